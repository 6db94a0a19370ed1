DROP INDEX `sessions_expires_idx` ON `sessions`;
ALTER TABLE `sessions` RENAME INDEX `sessions_userId_idx` TO `sessions_userId_fkey`;
