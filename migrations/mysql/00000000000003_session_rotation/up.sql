-- NOT PRISMA OUTPUT. This file is a careful reconstruction of what Prisma 6.19
-- `migrate diff --script` prints for MySQL; no Prisma engine available offline can render MySQL
-- DDL (see migrations/README.md). It follows the prisma-engines MySQL renderer and real
-- Prisma-generated MySQL migrations, and tests/it applies it to MariaDB and checks the catalog it
-- builds. To regenerate it for real (needs network access for the native schema engine):
--   npx prisma@6.19.3 migrate diff \
--     --from-schema-datamodel migrations/mysql/00000000000002_session_metadata/schema.prisma \
--     --to-schema-datamodel migrations/mysql/00000000000003_session_rotation/schema.prisma --script
-- and replace everything below this header with its output.
-- One ALTER TABLE for both columns, then the unique index, as the PostgreSQL output of the same
-- diff.

-- AlterTable
ALTER TABLE `sessions` ADD COLUMN `previousSessionToken` VARCHAR(191) NULL,
    ADD COLUMN `rotatedAt` DATETIME(3) NULL;

-- CreateIndex
CREATE UNIQUE INDEX `sessions_previousSessionToken_key` ON `sessions`(`previousSessionToken`);
