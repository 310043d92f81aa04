using System.Security.Cryptography;
using Postern.Core.Tenants;
using Postern.Tenants;

namespace Postern.Host.Server;

/// <summary>What the first start creates: the first global admin (with a one-time password unless one is configured).</summary>
public static class FirstStart
{
    /// <summary>The outcome: null when admins existed already; else the login and, if generated, the one-time password to print once.</summary>
    public sealed record CreatedAdmin(string Login, string? OneTimePassword);

    public static async Task<CreatedAdmin?> EnsureAdminAsync(DirectoryService directory, string login, string? configuredPassword, CancellationToken cancellationToken)
    {
        if ((await directory.Store.CountAsync(cancellationToken).ConfigureAwait(false)).Admins > 0)
        {
            return null;
        }

        var generated = string.IsNullOrEmpty(configuredPassword) ? GeneratePassword() : null;
        await directory.AddAdminAsync(login, configuredPassword ?? generated!, [BuiltInRoles.GlobalAdmin], Scope.Global, mustChangePassword: generated is not null, cancellationToken)
            .ConfigureAwait(false);
        return new CreatedAdmin(login, generated);
    }

    /// <summary>20 characters from an alphabet without look-alikes (about 115 bits).</summary>
    public static string GeneratePassword()
    {
        const string alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        return RandomNumberGenerator.GetString(alphabet, 20);
    }
}
