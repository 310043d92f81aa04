using Postern.Protocols.Imap;

namespace Postern.Server.Imap;

internal sealed partial class ImapSession
{
    private Task SearchAsync(SearchCommand command)
    {
        No(command.Tag, "SEARCH is not available yet", ImapResponseCode.Cannot);
        return Task.CompletedTask;
    }

    private Task SortAsync(SortCommand command)
    {
        No(command.Tag, "SORT is not available yet", ImapResponseCode.Cannot);
        return Task.CompletedTask;
    }

    private Task ThreadAsync(ThreadCommand command)
    {
        No(command.Tag, "THREAD is not available yet", ImapResponseCode.Cannot);
        return Task.CompletedTask;
    }
}
