// Before anything uses the shared array pool: streamed rollouts arrive through HttpClient's
// pooled 16 KiB buffers, more than the pool's default capacity holds (docs/grpc.md).
R2M.Client.SharedArrayPoolCapacity.TryRaise();
return await R2M.Client.Cli.ClientCli.RunAsync(args).ConfigureAwait(false);
