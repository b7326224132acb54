# r2m-server image: multi-stage build (SDK -> ASP.NET Core runtime), OpenBLAS for the GEMM hot path,
# non-root user, gRPC health check. Models are not baked in: mount HuggingFace-format directories.
#
#   docker build -t r2m-server .
#   export R2M__ApiKey="$(cat ~/.config/r2m/api-key)"      # the key lives in your environment only
#   docker run --rm -p 50051:50051 -v /path/to/models:/models:ro -v r2m-data:/data \
#     -e R2M__ApiKey r2m-server --policy /models/policy --reward-model /models/rm
#
# or, with a Docker (Compose/Swarm) secret mounted at /run/secrets/r2m_api_key:
#   environment: R2M__ApiKeyFile=/run/secrets/r2m_api_key       (docs/server.md, "Docker")
#
# Inside a container loopback is unreachable from outside, so the image listens on 0.0.0.0
# (R2M__Host), and r2m-server refuses to start on a non-loopback address without a key. The key
# comes from the environment (R2M__ApiKey; `-e NAME` passes its value without putting it in any
# argument list) or a secret file (R2M__ApiKeyFile); r2m-server refuses a key on its command line.
# Serving without a key on a trusted network needs R2M__AllowUnauthenticatedNetwork=true, said
# explicitly. TLS: mount a certificate and set R2M__CertificatePath (and R2M__CertificateKeyPath
# for a PEM key).

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# Restore first (cached while only sources change).
COPY Directory.Build.props Directory.Packages.props R2M.Grpc.sln ./
COPY protos/ protos/
COPY src/R2M.Tensors/R2M.Tensors.csproj src/R2M.Tensors/
COPY src/R2M.Tokenizers/R2M.Tokenizers.csproj src/R2M.Tokenizers/
COPY src/R2M.Models/R2M.Models.csproj src/R2M.Models/
COPY src/R2M.Alignment/R2M.Alignment.csproj src/R2M.Alignment/
COPY src/R2M.Api/R2M.Api.csproj src/R2M.Api/
COPY src/R2M.Server/R2M.Server.csproj src/R2M.Server/
RUN dotnet restore src/R2M.Server/R2M.Server.csproj
COPY src/ src/
RUN dotnet publish src/R2M.Server/R2M.Server.csproj -c Release -o /app --no-restore

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
# libopenblas0-pthread provides libopenblas.so.0 (cblas_sgemm); without it the managed GEMM is used.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libopenblas0-pthread \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /data/checkpoints \
    && chown -R "$APP_UID" /data
WORKDIR /app
COPY --from=build /app ./
# A 16 MiB gen0 budget for a process that parses large messages (inline hidden states): the
# default ~6 MB budget means a GC every few messages (docs/grpc.md, "Benchmark").
ENV R2M__Host=0.0.0.0 \
    R2M__Port=50051 \
    R2M__CheckpointRoot=/data/checkpoints \
    DOTNET_gcServer=0 \
    DOTNET_GCgen0size=0x1000000
# The non-root user that the .NET images define (APP_UID, "app").
USER $APP_UID
EXPOSE 50051
VOLUME ["/data"]
# grpc.health.v1 Check through the server binary itself (no extra probe tool in the image); it
# reports NOT_SERVING until the models are loaded.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["dotnet", "/app/r2m-server.dll", "health", "--address", "http://127.0.0.1:50051"]
ENTRYPOINT ["dotnet", "/app/r2m-server.dll"]
CMD ["--policy", "/models/policy", "--reward-model", "/models/rm"]
