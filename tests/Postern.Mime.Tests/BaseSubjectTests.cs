using Postern.Mime.Views;

namespace Postern.Mime.Tests;

public sealed class BaseSubjectTests
{
    [Theory]
    [InlineData("Hello", "Hello", false)]
    [InlineData("Re: Hello", "Hello", true)]
    [InlineData("RE:  re: Fwd: FW: Hello", "Hello", true)]
    [InlineData("Re[2]: Hello", "Hello", true)]
    [InlineData("[list] Re: Hello", "Hello", true)]
    [InlineData("[list] Hello", "Hello", false)]
    [InlineData("[list]", "[list]", false)]
    [InlineData("Hello (fwd)", "Hello", true)]
    [InlineData("Hello (FWD) (fwd)  ", "Hello", true)]
    [InlineData("[Fwd: Re: Hello]", "Hello", true)]
    [InlineData("  Hello \t\r\n  world  ", "Hello world", false)]
    [InlineData("Reply to all", "Reply to all", false)]
    [InlineData("Fwdx: Hello", "Fwdx: Hello", false)]
    [InlineData("", "", false)]
    [InlineData(null, "", false)]
    public void Reply_and_forward_decorations_are_removed(string? subject, string expected, bool reply)
    {
        Assert.Equal(expected, BaseSubject.Of(subject, out var wasReply));
        Assert.Equal(reply, wasReply);
    }

    [Fact]
    public void Any_string_gets_an_answer()
    {
        var random = new Random(5256);
        const string alphabet = "[]():reRfwdFWD ab\t";
        for (var i = 0; i < 20_000; i++)
        {
            var chars = new char[random.Next(0, 30)];
            for (var j = 0; j < chars.Length; j++)
            {
                chars[j] = alphabet[random.Next(alphabet.Length)];
            }

            var result = BaseSubject.Of(new string(chars));
            Assert.True(result.Length <= chars.Length + 1);
        }
    }
}
