using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Postern.Core.Tenants;
using Postern.Tenants;
using static Postern.Host.Cli.CliCommandBuilder;

namespace Postern.Host.Cli;

/// <summary><c>postern reseller</c>, <c>customer</c>, <c>admin</c>, <c>role</c> and <c>plan</c>.</summary>
internal static class TenantCommands
{
    public static Command Reseller(GlobalOptions globals)
    {
        var name = new Argument<string>("name") { Description = "The reseller's name" };
        var add = Leaf("add", "Add a reseller", globals, async (parse, context, ct) =>
        {
            var reseller = await context.Directory.AddResellerAsync(parse.GetValue(name)!, ct).ConfigureAwait(false);
            context.Write(new { name = reseller.Name, created = reseller.Created }, o => o.WriteLine($"added reseller {reseller.Name}"));
            return ExitCodes.Ok;
        });
        add.Arguments.Add(name);
        var list = Leaf("list", "List resellers", globals, async (parse, context, ct) =>
        {
            var resellers = await context.Store.ListResellersAsync(ct).ConfigureAwait(false);
            var customers = await context.Store.ListCustomersAsync(null, ct).ConfigureAwait(false);
            var models = resellers.Select(r => new { name = r.Name, customers = customers.Count(c => c.ResellerId == r.Id), created = r.Created }).ToList();
            context.Write(models, o =>
            {
                if (models.Count == 0)
                {
                    o.WriteLine("no resellers");
                }

                foreach (var m in models)
                {
                    o.WriteLine($"{m.name}  {Plural(m.customers, "customer")}");
                }
            });
            return ExitCodes.Ok;
        });
        return Group("reseller", "Resellers: they sell to customers and administer them", globals, add, list);
    }

    public static Command Customer(GlobalOptions globals)
    {
        var name = new Argument<string>("name") { Description = "The customer's name" };
        var reseller = new Option<string?>("--reseller") { Description = "The reseller the customer belongs to (none: a direct customer)" };
        var add = Leaf("add", "Add a customer", globals, async (parse, context, ct) =>
        {
            var customer = await context.Directory.AddCustomerAsync(parse.GetValue(name)!, parse.GetValue(reseller), ct).ConfigureAwait(false);
            var resellerName = parse.GetValue(reseller)?.Trim();
            context.Write(new { name = customer.Name, reseller = resellerName, created = customer.Created }, o =>
                o.WriteLine(resellerName is null ? $"added direct customer {customer.Name}" : $"added customer {customer.Name} of reseller {resellerName}"));
            return ExitCodes.Ok;
        });
        add.Arguments.Add(name);
        add.Options.Add(reseller);
        var listReseller = new Option<string?>("--reseller") { Description = "Only this reseller's customers" };
        var list = Leaf("list", "List customers", globals, async (parse, context, ct) =>
        {
            long? resellerId = null;
            if (parse.GetValue(listReseller) is { } r)
            {
                resellerId = (await context.Store.FindResellerAsync(r.Trim(), ct).ConfigureAwait(false)
                    ?? throw new DirectoryObjectNotFoundException("reseller", $"there is no reseller named '{r}'")).Id;
            }

            var resellers = (await context.Store.ListResellersAsync(ct).ConfigureAwait(false)).ToDictionary(x => x.Id, x => x.Name);
            var customers = await context.Store.ListCustomersAsync(resellerId, ct).ConfigureAwait(false);
            var models = new List<object>();
            var lines = new List<string>();
            foreach (var c in customers)
            {
                var domains = await context.Store.ListDomainsAsync(c.Id, ct).ConfigureAwait(false);
                var resellerName = c.ResellerId is { } id && resellers.TryGetValue(id, out var n) ? n : null;
                models.Add(new { name = c.Name, reseller = resellerName, domains = domains.Count, created = c.Created });
                lines.Add($"{c.Name}  {(resellerName is null ? "direct" : $"reseller {resellerName}")}  {Plural(domains.Count, "domain")}");
            }

            context.Write(models, o =>
            {
                if (lines.Count == 0)
                {
                    o.WriteLine("no customers");
                }

                lines.ForEach(o.WriteLine);
            });
            return ExitCodes.Ok;
        });
        list.Options.Add(listReseller);
        return Group("customer", "Customers: they own domains", globals, add, list);
    }

    public static Command Admin(GlobalOptions globals)
    {
        var login = new Argument<string>("login") { Description = "The admin's login name" };
        var roles = new Option<string[]>("--role") { Description = "A role (repeatable; see 'postern role list')", Required = true, AllowMultipleArgumentsPerToken = false };
        var scope = new Option<string>("--scope") { Description = "Where the admin acts: global, reseller:NAME, customer:NAME or domain:NAME", Required = true };
        var password = CliPasswords.PasswordOption();
        var stdin = CliPasswords.PasswordStdinOption();
        var add = Leaf("add", "Add an admin login (with neither password option a one-time password is generated, printed once, and must be changed at first sign-in)", globals, async (parse, context, ct) =>
        {
            var (secret, generated) = CliPasswords.Get(parse, password, stdin);
            var s = await ParseScopeAsync(context, parse.GetValue(scope)!, ct).ConfigureAwait(false);
            var admin = await context.Directory.AddAdminAsync(parse.GetValue(login)!, secret, parse.GetValue(roles) ?? [], s, mustChangePassword: generated, ct).ConfigureAwait(false);
            var scopeText = await DescribeScopeAsync(context, admin.Scope, ct).ConfigureAwait(false);
            context.Write(new { login = admin.Login, scope = scopeText, roles = admin.Roles, mustChangePassword = admin.MustChangePassword, generatedPassword = generated ? secret : null }, o =>
            {
                o.WriteLine($"added admin {admin.Login} ({string.Join(", ", admin.Roles)}) at {scopeText}");
                if (generated)
                {
                    o.WriteLine($"one-time password: {secret}");
                    o.WriteLine("(shown only this once; it must be changed at the first sign-in)");
                }
            });
            return ExitCodes.Ok;
        });
        add.Arguments.Add(login);
        add.Options.Add(roles);
        add.Options.Add(scope);
        add.Options.Add(password);
        add.Options.Add(stdin);
        var list = Leaf("list", "List admin logins", globals, async (parse, context, ct) =>
        {
            var admins = await context.Store.ListAdminsAsync(ct).ConfigureAwait(false);
            var models = new List<AdminModel>();
            foreach (var a in admins)
            {
                models.Add(new AdminModel(a.Login, await DescribeScopeAsync(context, a.Scope, ct).ConfigureAwait(false), a.Roles, a.Disabled, a.MustChangePassword, a.Created));
            }

            context.Write(models, o =>
            {
                if (models.Count == 0)
                {
                    o.WriteLine("no admins");
                }

                foreach (var m in models)
                {
                    o.WriteLine($"{m.Login}  {m.Scope}  {string.Join(", ", m.Roles)}{(m.Disabled ? "  disabled" : string.Empty)}{(m.MustChangePassword ? "  must change password" : string.Empty)}");
                }
            });
            return ExitCodes.Ok;
        });
        return Group("admin", "Admin logins", globals, add, list);
    }

    public static Command Role(GlobalOptions globals)
    {
        var name = new Argument<string>("name") { Description = "The role's name" };
        var permissions = new Option<string[]>("--permission")
        {
            Description = $"Permissions ({string.Join(", ", Enum.GetValues<Permission>().Select(PermissionName))})",
            Required = true,
            AllowMultipleArgumentsPerToken = true,
        };
        var add = Leaf("add", "Add a role: a named set of permissions", globals, async (parse, context, ct) =>
        {
            var role = await context.Directory.AddRoleAsync(parse.GetValue(name)!, parse.GetValue(permissions) ?? [], ct).ConfigureAwait(false);
            var model = ToModel(role);
            context.Write(model, o => o.WriteLine($"added role {role.Name}: {string.Join(", ", model.Permissions)}"));
            return ExitCodes.Ok;
        });
        add.Arguments.Add(name);
        add.Options.Add(permissions);
        var list = Leaf("list", "List roles with their permissions", globals, async (parse, context, ct) =>
        {
            var models = (await context.Store.ListRolesAsync(ct).ConfigureAwait(false)).Select(ToModel).ToList();
            context.Write(models, o =>
            {
                foreach (var m in models)
                {
                    o.WriteLine($"{m.Name}{(m.BuiltIn ? " (built-in)" : string.Empty)}: {string.Join(", ", m.Permissions)}");
                }
            });
            return ExitCodes.Ok;
        });
        return Group("role", "Roles: named sets of permissions", globals, add, list);

        static RoleModel ToModel(Role r) => new(r.Name, r.BuiltIn, r.Permissions.Order().Select(PermissionName).ToList());
    }

    public static Command Plan(GlobalOptions globals)
    {
        var list = Leaf("list", "List plans and add-ons with their features", globals, async (parse, context, ct) =>
        {
            var plans = await context.Store.ListPlansAsync(ct).ConfigureAwait(false);
            var models = plans.Select(p => new { name = p.Name, addOn = p.IsAddOn, legacy = p.IsLegacy, features = Features(p.FeaturesJson) }).ToList();
            context.Write(models, o =>
            {
                foreach (var m in models)
                {
                    o.WriteLine($"{m.name}{(m.addOn ? " (add-on)" : string.Empty)}{(m.legacy ? " (legacy)" : string.Empty)}: {string.Join(", ", m.features)}");
                }
            });
            return ExitCodes.Ok;
        });
        var domain = new Argument<string>("domain") { Description = "The domain" };
        var plan = new Argument<string>("plan") { Description = "The plan's name (see 'postern plan list')" };
        var hostedMail = new Option<bool>("--hosted-mail") { Description = "Add the Hosted Mail add-on" };
        var set = Leaf("set", "Set a domain's plan (acting as the console: a global admin)", globals, async (parse, context, ct) =>
        {
            await context.Directory.SetPlanAsync(parse.GetValue(domain)!, parse.GetValue(plan)!, parse.GetValue(hostedMail), AdminPrincipal.Console, ct).ConfigureAwait(false);
            var d = await context.Directory.RequireDomainAsync(parse.GetValue(domain)!, ct).ConfigureAwait(false);
            var planName = d.PlanId is { } id ? (await context.Store.GetPlanAsync(id, ct).ConfigureAwait(false))?.Name : null;
            context.Write(new { domain = d.Name.Unicode, plan = planName, hostedMailAddOn = d.HostedMailAddOn }, o =>
                o.WriteLine($"{DomainCommands.Display(d.Name)} now has the plan {planName}{(d.HostedMailAddOn ? " + Hosted Mail" : string.Empty)}"));
            return ExitCodes.Ok;
        });
        set.Arguments.Add(domain);
        set.Arguments.Add(plan);
        set.Options.Add(hostedMail);
        return Group("plan", "Plans: feature bundles sold per domain", globals, list, set);
    }

    /// <summary>
    /// Parses <c>global</c>, <c>reseller:NAME</c>, <c>customer:NAME</c>, <c>domain:NAME</c> and (when <paramref name="allowAccount"/>)
    /// <c>account:EMAIL</c>; whatever is wrong is reported against the field <c>scope</c>.
    /// </summary>
    public static async Task<Scope> ParseScopeAsync(CliContext context, string text, CancellationToken ct, bool allowAccount = false)
    {
        var trimmed = text.Trim();
        try
        {
            if (allowAccount && trimmed.StartsWith("account:", StringComparison.OrdinalIgnoreCase))
            {
                var (account, _) = await context.Directory.RequireAccountAsync(trimmed["account:".Length..], ct).ConfigureAwait(false);
                return new Scope(ScopeKind.Account, account.Id);
            }

            return await context.Directory.ParseScopeAsync(trimmed, ct).ConfigureAwait(false);
        }
        catch (DirectoryObjectNotFoundException e) when (e.Field != "scope")
        {
            throw new DirectoryObjectNotFoundException("scope", e.Message);
        }
        catch (DirectoryValidationException e) when (e.Field != "scope")
        {
            throw new DirectoryValidationException("scope", e.Message);
        }
    }

    public static string PermissionName(Permission p) => JsonNamingPolicy.KebabCaseLower.ConvertName(p.ToString());

    /// <summary>A scope with names instead of ids: <c>global</c>, <c>reseller:NAME</c>, <c>customer:NAME</c>, <c>domain:NAME</c>, <c>account:EMAIL</c>.</summary>
    public static async Task<string> DescribeScopeAsync(CliContext context, Scope scope, CancellationToken ct)
    {
        var store = context.Store;
        return scope.Kind switch
        {
            ScopeKind.Global => "global",
            ScopeKind.Reseller => "reseller:" + ((await store.GetResellerAsync(scope.Id, ct).ConfigureAwait(false))?.Name ?? Id(scope)),
            ScopeKind.Customer => "customer:" + ((await store.GetCustomerAsync(scope.Id, ct).ConfigureAwait(false))?.Name ?? Id(scope)),
            ScopeKind.Domain => "domain:" + ((await store.GetDomainAsync(scope.Id, ct).ConfigureAwait(false))?.Name.Unicode ?? Id(scope)),
            ScopeKind.Account => "account:" + (await store.GetAccountAsync(scope.Id, ct).ConfigureAwait(false) is { } a
                ? await DomainCommands.AccountAddressAsync(context, a, ct).ConfigureAwait(false)
                : Id(scope)),
            _ => scope.ToString(),
        };

        static string Id(Scope s) => "#" + s.Id.ToString(CultureInfo.InvariantCulture);
    }

    private static List<string> Features(string json)
    {
        try
        {
            return JsonNode.Parse(json) is JsonObject obj
                ? obj.Where(kv => kv.Value is JsonValue v && v.TryGetValue<bool>(out var on) && on).Select(kv => kv.Key).ToList()
                : [];
        }
        catch (JsonException)
        {
            return [];
        }
    }

    internal sealed record AdminModel(string Login, string Scope, IReadOnlyList<string> Roles, bool Disabled, bool MustChangePassword, DateTimeOffset Created);

    internal sealed record RoleModel(string Name, bool BuiltIn, IReadOnlyList<string> Permissions);
}
