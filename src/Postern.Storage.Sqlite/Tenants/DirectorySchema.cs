namespace Postern.Storage.Sqlite.Tenants;

/// <summary>The directory database's migrations. Released versions are never edited: add a new step.</summary>
internal static class DirectorySchema
{
    public static IReadOnlyList<SqliteMigration> Migrations { get; } =
    [
        new(1, "initial directory", """
            CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
            INSERT INTO meta (key, value) VALUES ('change_stamp', 0);

            CREATE TABLE resellers (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE COLLATE NOCASE,
                created INTEGER NOT NULL);

            CREATE TABLE customers (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE COLLATE NOCASE,
                reseller_id INTEGER REFERENCES resellers(id) ON DELETE RESTRICT,
                created INTEGER NOT NULL);
            CREATE INDEX customers_reseller ON customers(reseller_id);

            CREATE TABLE plans (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE COLLATE NOCASE,
                features TEXT NOT NULL,
                is_addon INTEGER NOT NULL,
                is_legacy INTEGER NOT NULL);

            CREATE TABLE domains (
                id INTEGER PRIMARY KEY,
                customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE RESTRICT,
                name TEXT NOT NULL UNIQUE,
                kind INTEGER NOT NULL,
                relay_hosts TEXT NOT NULL,
                subaddress_separators TEXT NOT NULL,
                plan_id INTEGER REFERENCES plans(id),
                hosted_addon INTEGER NOT NULL,
                catch_all_account_id INTEGER,
                settings TEXT NOT NULL,
                created INTEGER NOT NULL,
                quota_bytes INTEGER NOT NULL DEFAULT 0);
            CREATE INDEX domains_customer ON domains(customer_id);

            CREATE TABLE domain_aliases (
                name TEXT PRIMARY KEY,
                domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE);
            CREATE INDEX domain_aliases_domain ON domain_aliases(domain_id);

            CREATE TABLE accounts (
                id INTEGER PRIMARY KEY,
                domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
                local_part TEXT NOT NULL,
                local_key TEXT NOT NULL,
                display_name TEXT NOT NULL,
                password_hash TEXT NOT NULL,
                quota_bytes INTEGER NOT NULL,
                disabled INTEGER NOT NULL,
                forward_to TEXT NOT NULL,
                forward_keep_copy INTEGER NOT NULL,
                settings TEXT NOT NULL,
                created INTEGER NOT NULL,
                UNIQUE (domain_id, local_key));

            CREATE TABLE lists (
                id INTEGER PRIMARY KEY,
                domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
                local_part TEXT NOT NULL,
                local_key TEXT NOT NULL,
                name TEXT NOT NULL,
                posting_policy INTEGER NOT NULL,
                UNIQUE (domain_id, local_key));

            CREATE TABLE list_members (
                list_id INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
                address TEXT NOT NULL,
                PRIMARY KEY (list_id, address));

            -- Every local part of a domain has exactly one owner: account, alias or list.
            CREATE TABLE addresses (
                domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
                local_key TEXT NOT NULL,
                local_part TEXT NOT NULL,
                kind INTEGER NOT NULL,
                owner_id INTEGER NOT NULL,
                PRIMARY KEY (domain_id, local_key)) WITHOUT ROWID;
            CREATE INDEX addresses_owner ON addresses(kind, owner_id);

            CREATE TABLE roles (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE COLLATE NOCASE,
                permissions TEXT NOT NULL,
                builtin INTEGER NOT NULL);

            CREATE TABLE admins (
                id INTEGER PRIMARY KEY,
                login TEXT NOT NULL UNIQUE COLLATE NOCASE,
                password_hash TEXT NOT NULL,
                scope_kind INTEGER NOT NULL,
                scope_id INTEGER NOT NULL,
                roles TEXT NOT NULL,
                disabled INTEGER NOT NULL,
                must_change_password INTEGER NOT NULL,
                created INTEGER NOT NULL);

            CREATE TABLE policies (
                scope_kind INTEGER NOT NULL,
                scope_id INTEGER NOT NULL,
                id INTEGER NOT NULL UNIQUE,
                name TEXT NOT NULL,
                policy TEXT NOT NULL,
                PRIMARY KEY (scope_kind, scope_id));
            """),
    ];
}
