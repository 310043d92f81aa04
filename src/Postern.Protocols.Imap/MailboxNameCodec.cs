using System.Text;
using Postern.Primitives;

namespace Postern.Protocols.Imap;

/// <summary>
/// Mailbox names between the wire and the store: modified UTF-7 for IMAP4rev1 clients, UTF-8 as is
/// once the client has enabled UTF8=ACCEPT (RFC 6855) or IMAP4rev2 (RFC 9051 §5.1).
/// </summary>
public static class MailboxNameCodec
{
    /// <summary>The name the client meant; false when the wire form is not valid in this mode.</summary>
    public static bool TryDecode(string wire, bool utf8Enabled, out string name)
    {
        if (utf8Enabled)
        {
            name = wire;
            return !wire.Any(c => char.IsControl(c)) && IsWellFormedUtf16(wire);
        }

        return ModifiedUtf7.TryDecode(wire, out name);
    }

    /// <summary>The wire form of a name (for LIST, STATUS, ... answers).</summary>
    public static string Encode(string name, bool utf8Enabled) => utf8Enabled ? name : ModifiedUtf7.Encode(name);

    private static bool IsWellFormedUtf16(string s)
    {
        for (var i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]))
            {
                if (i + 1 >= s.Length || !char.IsLowSurrogate(s[i + 1]))
                {
                    return false;
                }

                i++;
            }
            else if (char.IsLowSurrogate(s[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>UTF-8 bytes of a name as they would be on the wire (for size checks).</summary>
    public static int WireLength(string name, bool utf8Enabled) =>
        utf8Enabled ? Encoding.UTF8.GetByteCount(name) : Encode(name, false).Length;
}
