return await R2M.Server.R2MServer.RunAsync(args).ConfigureAwait(false);
