-- NOT PRISMA OUTPUT. This file is a careful reconstruction of what Prisma 6.19
-- `migrate diff --script` prints for MySQL; no Prisma engine available offline can render MySQL
-- DDL (see migrations/README.md). It follows the prisma-engines MySQL renderer and real
-- Prisma-generated MySQL migrations, and tests/it applies it to MariaDB and checks the catalog it
-- builds. To regenerate it for real (needs network access for the native schema engine):
--   npx prisma@6.19.3 migrate diff \
--     --from-schema-datamodel migrations/mysql/00000000000000_init/schema.prisma \
--     --to-schema-datamodel migrations/mysql/00000000000001_session_indexes/schema.prisma --script
-- and replace everything below this header with its output.
-- MySQL indexes every foreign key: the init migration left an implicit index named after the
-- constraint (`sessions_userId_fkey`) on sessions.userId, and Prisma renames it rather than
-- creating a second one (as Prisma-generated MySQL migrations adding @@index on a relation do).

-- CreateIndex
CREATE INDEX `sessions_expires_idx` ON `sessions`(`expires`);

-- RenameIndex
ALTER TABLE `sessions` RENAME INDEX `sessions_userId_fkey` TO `sessions_userId_idx`;

