using System.CommandLine;
using Postern.Host;

return await PosternCommandLine.Build().Parse(args).InvokeAsync(new InvocationConfiguration()).ConfigureAwait(false);
