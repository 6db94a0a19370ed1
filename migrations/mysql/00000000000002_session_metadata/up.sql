-- NOT PRISMA OUTPUT. This file is a careful reconstruction of what Prisma 6.19
-- `migrate diff --script` prints for MySQL; no Prisma engine available offline can render MySQL
-- DDL (see migrations/README.md). It follows the prisma-engines MySQL renderer and real
-- Prisma-generated MySQL migrations, and tests/it applies it to MariaDB and checks the catalog it
-- builds. To regenerate it for real (needs network access for the native schema engine):
--   npx prisma@6.19.3 migrate diff \
--     --from-schema-datamodel migrations/mysql/00000000000001_session_indexes/schema.prisma \
--     --to-schema-datamodel migrations/mysql/00000000000002_session_metadata/schema.prisma --script
-- and replace everything below this header with its output.
-- One ALTER TABLE for all columns, in name order, as the PostgreSQL output of the same diff.

-- AlterTable
ALTER TABLE `sessions` ADD COLUMN `createdAt` DATETIME(3) NULL DEFAULT CURRENT_TIMESTAMP(3),
    ADD COLUMN `ipAddress` VARCHAR(191) NULL,
    ADD COLUMN `updatedAt` DATETIME(3) NULL,
    ADD COLUMN `userAgent` VARCHAR(191) NULL;
