using System.Text;
using Postern.Mime.Codecs;

namespace Postern.Mime.Tests;

public sealed class QuotedPrintableTests
{
    [Theory]
    [InlineData("hello  \r\nbar", "hello\r\nbar")]
    [InlineData("foo\t \t\nbar", "foo\nbar")]
    [InlineData("trailing at the end  ", "trailing at the end")]
    [InlineData("kept=20\r\nnext", "kept \r\nnext")]
    [InlineData("inner  space\r\n", "inner  space\r\n")]
    [InlineData("soft  =\r\nbreak", "soft  break")]
    [InlineData("a =3D b", "a = b")]
    public void Transport_white_space_at_line_ends_is_dropped_and_encoded_white_space_kept(string encoded, string decoded)
    {
        Assert.Equal(decoded, Encoding.ASCII.GetString(QuotedPrintableDecoder.Decode(Encoding.ASCII.GetBytes(encoded))));
    }

    [Fact]
    public void Header_Q_words_keep_their_spaces()
    {
        Assert.Equal("a b  ", Encoding.ASCII.GetString(QuotedPrintableDecoder.Decode(Encoding.ASCII.GetBytes("a_b  "), header: true)));
    }
}
