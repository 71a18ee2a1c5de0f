-- exo-setup schema v3: the organization's name, carried by invitations to users' computers.
ALTER TABLE org_settings ADD COLUMN organization_name TEXT NOT NULL DEFAULT '';
