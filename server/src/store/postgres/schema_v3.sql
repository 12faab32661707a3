-- Version 3: reminders and a request's recipients.
-- A channel's reminder delay in seconds (NULL: no reminders, as in version 2).
ALTER TABLE channels ADD COLUMN remind_after_secs BIGINT CHECK (remind_after_secs > 0);
-- The role a queued `request.reminder` is for: it is sent only while the request has it.
ALTER TABLE notifications ADD COLUMN role TEXT;
-- A request's recipients, JSON `[{"kind", "address"}]` (NULL: none): they narrow the
-- channels of its role it is announced to (`store::narrow`).
ALTER TABLE requests ADD COLUMN recipients TEXT;
