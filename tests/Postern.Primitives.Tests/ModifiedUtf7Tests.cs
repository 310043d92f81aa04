using FsCheck;
using FsCheck.Fluent;

namespace Postern.Primitives.Tests;

public sealed class ModifiedUtf7Tests
{
    [Theory]
    [InlineData("INBOX", "INBOX")]
    [InlineData("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-")]
    [InlineData("&", "&-")]
    [InlineData("Entwürfe", "Entw&APw-rfe")]
    [InlineData("a&b", "a&-b")]
    [InlineData("Ĉu & ĉu", "&AQg-u &- &AQk-u")]
    [InlineData("😀", "&2D3eAA-")]
    [InlineData("", "")]
    public void Modified_utf7_known_values(string name, string wire)
    {
        Assert.Equal(wire, ModifiedUtf7.Encode(name));
        Assert.True(ModifiedUtf7.TryDecode(wire, out var decoded));
        Assert.Equal(name, decoded);
    }

    [Theory]
    [InlineData("&")] // unterminated
    [InlineData("&AGE-")] // "a" must not be encoded
    [InlineData("&U,BTFw-&ZeVnLIqe-")] // adjacent runs must be one
    [InlineData("&U,BTF-")] // leftover bits not zero / partial unit
    [InlineData("&U,BTFwA-")] // an extra base64 character
    [InlineData("&2D0-")] // an unpaired high surrogate
    [InlineData("&3gA-")] // an unpaired low surrogate
    [InlineData("&U/BTFw-")] // '/' is not modified base64
    [InlineData("&=-")]
    [InlineData("Entwürfe")] // 8-bit is not modified UTF-7
    [InlineData("a\tb")]
    public void Modified_utf7_rejects_non_canonical_forms(string wire) => Assert.False(ModifiedUtf7.TryDecode(wire, out _));

    [Fact]
    public void Modified_utf7_round_trips_any_name()
    {
        var names = Gen.ArrayOf(Gen.Frequency((3, Gen.Choose(0x20, 0x7E)), (2, Gen.Choose(0xA0, 0xD7FF)), (1, Gen.Choose(0x10000, 0x10FFFF))))
            .Select(cps => string.Concat(cps.Select(char.ConvertFromUtf32)));
        Check.QuickThrowOnFailure(Prop.ForAll(names.ToArbitrary(), name =>
        {
            var wire = ModifiedUtf7.Encode(name);
            return wire.All(c => c is >= ' ' and <= '~') && ModifiedUtf7.TryDecode(wire, out var back) && back == name;
        }));
    }

    [Fact]
    public void Modified_utf7_decoding_accepts_only_canonical_wire_forms()
    {
        var wires = Gen.ArrayOf(Gen.Elements('&', '-', 'A', 'G', 'U', ',', '+', 'a', '2', 'D', '3', 'e', 'w', '/', ' ')).Select(cs => new string(cs));
        Check.QuickThrowOnFailure(Prop.ForAll(wires.ToArbitrary(), wire =>
            !ModifiedUtf7.TryDecode(wire, out var name) || ModifiedUtf7.Encode(name) == wire));
    }
}
