-- A delivery is claimed (claimed_by set) and released or recorded (claimed_by
-- cleared) once per attempt. While claimed_by was indexed, each claim wrote a
-- new entry into every index of the table (six): about eight WAL records a
-- claim. Without that index, and with room left on each page, a claim is a
-- heap-only update. The reaper, which looked claimed rows up by that index
-- every few seconds, reads the pending deliveries instead (webhook_deliveries_pending):
-- as many as the backlog, and a dispatcher that keeps up has little.
DROP INDEX IF EXISTS webhook_deliveries_claimed;
-- Takes effect for pages written from now on; the rows already there keep their pages.
ALTER TABLE webhook_deliveries SET (fillfactor = 70);
