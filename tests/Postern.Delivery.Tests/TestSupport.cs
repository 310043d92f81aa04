using Postern.Delivery.Srs;

namespace Postern.Delivery.Tests;

/// <summary>A clock the test moves by hand.</summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public ManualClock()
        : this(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero))
    {
    }

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}

internal static class Srs
{
    public const string Secret = "postern-test-secret";

    public static SrsOptions Options => new() { Domain = "fwd.example.net", ExcludedDomains = ["hosted.example.net"] };

    public static SrsRewriter Rewriter(TimeProvider clock, SrsOptions? options = null, params string[] secrets) =>
        new(options ?? Options, new SrsKeyRing(secrets.Length == 0 ? [Secret] : secrets), clock);
}
