using Postern.Host;

return await PosternCommandLine.InvokeAsync(args).ConfigureAwait(false);
