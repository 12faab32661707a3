-- Version 2: a project's own bound on grants, in seconds (NULL: the server-wide bound
-- `HANDRAIL_MAX_GRANT_SECS` alone, as in version 1). The bound in force is the smaller one.
ALTER TABLE projects ADD COLUMN max_grant_secs BIGINT CHECK (max_grant_secs > 0);
