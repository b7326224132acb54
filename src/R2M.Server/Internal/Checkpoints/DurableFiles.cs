using System.Runtime.InteropServices;

namespace R2M.Server.Internal.Checkpoints;

/// <summary>
/// The file-system primitives of the checkpoint protocol: fsync of files and folders, durable small
/// writes, and tree deletion that never follows a symbolic link.
/// </summary>
internal static partial class DurableFiles
{
    private const int ReadOnlyCloseOnExec = 0x80000; // O_RDONLY | O_CLOEXEC (Linux)

    /// <summary>
    /// fsync(2) of a file or a folder. A folder must be synced too: fsync of a file does not make
    /// its directory entry durable, so after a create or rename the parent folder is synced
    /// (fsync(2), NOTES). .NET has no API for syncing a folder (its file handles refuse folders),
    /// hence open(2)/fsync(2) directly. Failures throw <see cref="IOException"/> with the errno as HResult,
    /// as .NET's own I/O errors do on Unix.
    /// </summary>
    public static void Sync(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            // NTFS journals directory entries; only file contents need flushing there.
            if (File.Exists(path))
            {
                using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Write);
                RandomAccess.FlushToDisk(handle);
            }

            return;
        }

        var fd = Open(path, ReadOnlyCloseOnExec);
        if (fd < 0) throw ErrnoException("open", path, Marshal.GetLastPInvokeError());
        try
        {
            if (FSync(fd) != 0) throw ErrnoException("fsync", path, Marshal.GetLastPInvokeError());
        }
        finally
        {
            _ = Close(fd);
        }
    }

    /// <summary>Creates <paramref name="path"/> (it must not exist), writes the bytes and fsyncs it.</summary>
    public static void WriteNew(string path, ReadOnlySpan<byte> bytes)
    {
        using var fs = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        fs.Write(bytes);
        fs.Flush(flushToDisk: true);
    }

    /// <summary>
    /// Deletes a folder and everything in it. A symbolic link is removed itself, never what it points
    /// to. <paramref name="afterFirstDelete"/> runs once, after the first entry is gone (crash tests).
    /// </summary>
    public static void DeleteTree(string path, Action? afterFirstDelete = null)
    {
        var dir = new DirectoryInfo(path);
        if (dir.LinkTarget is not null)
        {
            File.Delete(path);
            return;
        }

        foreach (var entry in dir.EnumerateFileSystemInfos().ToList())
        {
            if (entry is DirectoryInfo && entry.LinkTarget is null) DeleteTree(entry.FullName);
            else File.Delete(entry.FullName);
            afterFirstDelete?.Invoke();
            afterFirstDelete = null;
        }

        dir.Delete();
    }

    private static IOException ErrnoException(string call, string path, int errno) =>
        new($"{call} '{path}': {Marshal.GetPInvokeErrorMessage(errno)}", errno);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FSync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
