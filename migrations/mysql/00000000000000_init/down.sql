DROP TABLE IF EXISTS `authenticators`;
DROP TABLE IF EXISTS `verification_tokens`;
DROP TABLE IF EXISTS `accounts`;
DROP TABLE IF EXISTS `sessions`;
DROP TABLE IF EXISTS `users`;
