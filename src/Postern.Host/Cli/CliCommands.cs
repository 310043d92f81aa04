using System.CommandLine;

namespace Postern.Host.Cli;

/// <summary>The directory-management commands (domain, account, alias, list, forward, reseller, customer, admin, dns, queue).</summary>
public static class CliCommands
{
    public static void AddTo(RootCommand root, GlobalOptions globals)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(globals);
        root.Subcommands.Add(DomainCommands.Create(globals));
        root.Subcommands.Add(AccountCommands.Create(globals));
        root.Subcommands.Add(AddressCommands.Alias(globals));
        root.Subcommands.Add(AddressCommands.List(globals));
        root.Subcommands.Add(AddressCommands.Forward(globals));
        root.Subcommands.Add(TenantCommands.Reseller(globals));
        root.Subcommands.Add(TenantCommands.Customer(globals));
        root.Subcommands.Add(TenantCommands.Admin(globals));
        root.Subcommands.Add(TenantCommands.Role(globals));
        root.Subcommands.Add(TenantCommands.Plan(globals));
        root.Subcommands.Add(PolicyCommands.Create(globals));
        root.Subcommands.Add(LookupCommands.Resolve(globals));
        root.Subcommands.Add(LookupCommands.Dns(globals));
        root.Subcommands.Add(QueueCommands.Create(globals));
        root.Subcommands.Add(SrsCommands.Create(globals));
        root.Subcommands.Add(ImportCommands.Create(globals));
    }
}
