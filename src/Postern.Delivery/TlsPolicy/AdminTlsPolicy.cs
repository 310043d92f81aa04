namespace Postern.Delivery.TlsPolicy;

/// <summary>The TLS levels an admin can set for a destination domain. Persisted values: do not renumber.</summary>
public enum AdminTlsLevel
{
    /// <summary>Do not send STARTTLS (for a peer whose TLS is broken); stronger policies still win.</summary>
    None = 0,

    /// <summary>Opportunistic TLS, the default.</summary>
    May = 1,

    /// <summary>TLS mandatory, any certificate.</summary>
    Encrypt = 2,

    /// <summary>TLS mandatory, a trusted chain and a matching name.</summary>
    Verify = 3,
}

/// <summary>An admin's TLS policy for one destination domain (the gateway sets one per customer).</summary>
/// <param name="Level">The level.</param>
/// <param name="MatchNames">
/// For <see cref="AdminTlsLevel.Verify"/>: the names the certificate may carry (wildcards as the left-most label
/// are matched in the certificate, not here). Empty means the MX host name, or the configured host of a relay
/// domain's server.
/// </param>
public sealed record AdminTlsPolicy(AdminTlsLevel Level, IReadOnlyList<string>? MatchNames = null)
{
    /// <summary>The policy used when the admin set none: opportunistic TLS.</summary>
    public static AdminTlsPolicy Default { get; } = new(AdminTlsLevel.May);

    /// <summary>Reads a level as configured or stored: <c>none</c>, <c>may</c>, <c>encrypt</c>, <c>verify</c> (any case); null otherwise.</summary>
    public static AdminTlsLevel? ParseLevel(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        "none" => AdminTlsLevel.None,
        "may" => AdminTlsLevel.May,
        "encrypt" => AdminTlsLevel.Encrypt,
        "verify" => AdminTlsLevel.Verify,
        _ => null,
    };

    /// <summary>Maps the admin level onto the level scale.</summary>
    internal TlsLevel TlsLevel => Level switch
    {
        AdminTlsLevel.None => TlsPolicy.TlsLevel.None,
        AdminTlsLevel.Encrypt => TlsPolicy.TlsLevel.Encrypt,
        AdminTlsLevel.Verify => TlsPolicy.TlsLevel.Verify,
        _ => TlsPolicy.TlsLevel.May,
    };
}
