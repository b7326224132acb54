return await R2M.Client.Cli.ClientCli.RunAsync(args).ConfigureAwait(false);
