namespace Postern.Passwords;

/// <summary>The base-64 alphabets and helpers used by the crypt(3) families and PHC strings.</summary>
internal static class CryptEncoding
{
    /// <summary>crypt(3) alphabet used by md5crypt and SHA-crypt (least significant bits first).</summary>
    public const string CryptAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    /// <summary>bcrypt alphabet (most significant bits first, like standard base64).</summary>
    public const string BcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    /// <summary>RFC 4648 base64 alphabet.</summary>
    public const string StandardAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    /// <summary>Appends <paramref name="count"/> crypt(3) characters for a 24-bit group, low bits first.</summary>
    public static void AppendCrypt24(System.Text.StringBuilder sb, int b2, int b1, int b0, int count)
    {
        int w = (b2 << 16) | (b1 << 8) | b0;
        for (int i = 0; i < count; i++)
        {
            sb.Append(CryptAlphabet[w & 0x3F]);
            w >>= 6;
        }
    }

    /// <summary>Encodes bytes most-significant-bit first with no padding (standard base64 shape).</summary>
    public static string EncodeMsbFirst(ReadOnlySpan<byte> data, string alphabet)
    {
        var chars = new char[((data.Length * 8) + 5) / 6];
        int c = 0;
        int buffer = 0;
        int bits = 0;
        foreach (byte b in data)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= 6)
            {
                bits -= 6;
                chars[c++] = alphabet[(buffer >> bits) & 0x3F];
            }
        }

        if (bits > 0)
        {
            chars[c++] = alphabet[(buffer << (6 - bits)) & 0x3F];
        }

        return new string(chars, 0, c);
    }

    /// <summary>
    /// Decodes most-significant-bit-first base64 without padding. Fails on a character outside the
    /// alphabet or a length that cannot occur (4n+1). Trailing bits that do not fill a byte are dropped.
    /// </summary>
    public static bool TryDecodeMsbFirst(ReadOnlySpan<char> text, string alphabet, out byte[] data)
    {
        data = [];
        if (text.Length % 4 == 1)
        {
            return false;
        }

        var result = new byte[text.Length * 6 / 8];
        int buffer = 0;
        int bits = 0;
        int o = 0;
        foreach (char ch in text)
        {
            int v = alphabet.IndexOf(ch, StringComparison.Ordinal);
            if (v < 0)
            {
                return false;
            }

            buffer = ((buffer << 6) | v) & 0xFFFFFF;
            bits += 6;
            if (bits >= 8)
            {
                bits -= 8;
                result[o++] = (byte)(buffer >> bits);
            }
        }

        data = result;
        return true;
    }

    /// <summary>Decodes RFC 4648 base64, padded or not (padding must then be correct).</summary>
    public static bool TryDecodeBase64(ReadOnlySpan<char> text, out byte[] data)
    {
        int end = text.Length;
        if (end % 4 == 0 && end > 0)
        {
            if (text[end - 1] == '=')
            {
                end--;
                if (text[end - 1] == '=')
                {
                    end--;
                }
            }
        }

        return TryDecodeMsbFirst(text[..end], StandardAlphabet, out data);
    }

    /// <summary>Encodes RFC 4648 base64 with padding.</summary>
    public static string EncodeBase64(ReadOnlySpan<byte> data) => Convert.ToBase64String(data);

    /// <summary>Decodes hex (either case).</summary>
    public static bool TryDecodeHex(ReadOnlySpan<char> text, out byte[] data)
    {
        data = [];
        if (text.Length % 2 != 0)
        {
            return false;
        }

        var result = new byte[text.Length / 2];
        for (int i = 0; i < result.Length; i++)
        {
            int hi = HexValue(text[2 * i]);
            int lo = HexValue(text[(2 * i) + 1]);
            if (hi < 0 || lo < 0)
            {
                return false;
            }

            result[i] = (byte)((hi << 4) | lo);
        }

        data = result;
        return true;
    }

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };
}
