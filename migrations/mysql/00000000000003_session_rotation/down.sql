DROP INDEX `sessions_previousSessionToken_key` ON `sessions`;
ALTER TABLE `sessions` DROP COLUMN `previousSessionToken`,
    DROP COLUMN `rotatedAt`;
