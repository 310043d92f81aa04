using System.Text;

namespace Postern.Delivery.Srs;

/// <summary>
/// The SRS secrets: the first signs new addresses, all of them verify (so a rotated-out secret keeps
/// old bounces working for <see cref="SrsOptions.MaxAgeDays"/>). A secret is text; its UTF-8 bytes are
/// the HMAC key, exactly as postsrsd reads its secret file and Mail::SRS its Secret option.
/// </summary>
public sealed class SrsKeyRing
{
    public SrsKeyRing(IEnumerable<string> secrets)
    {
        ArgumentNullException.ThrowIfNull(secrets);
        var list = new List<string>();
        foreach (var secret in secrets)
        {
            if (string.IsNullOrEmpty(secret) || secret.Contains('\n', StringComparison.Ordinal) || secret.Contains('\r', StringComparison.Ordinal))
            {
                throw new ArgumentException("An SRS secret must be non-empty text without line breaks.", nameof(secrets));
            }

            list.Add(secret);
        }

        if (list.Count == 0)
        {
            throw new ArgumentException("At least one SRS secret is needed.", nameof(secrets));
        }

        Secrets = list;
        Keys = list.Select(s => Encoding.UTF8.GetBytes(s)).ToArray();
    }

    /// <summary>The secrets, signing secret first.</summary>
    public IReadOnlyList<string> Secrets { get; }

    internal IReadOnlyList<byte[]> Keys { get; }

    internal byte[] SigningKey => Keys[0];
}
