ALTER TABLE "sessions" DROP COLUMN "createdAt";
ALTER TABLE "sessions" DROP COLUMN "ipAddress";
ALTER TABLE "sessions" DROP COLUMN "updatedAt";
ALTER TABLE "sessions" DROP COLUMN "userAgent";
