namespace Postern.Server.Imap.Tests;

public sealed class ImapServerInfoTests
{
    [Fact]
    public void Name_is_the_product_name() => Assert.Equal("Postern", ImapServerInfo.Name);
}
