namespace R2M.Server.Internal.Checkpoints;

/// <summary>
/// The steps of <see cref="CheckpointDirectory.Save"/>, in order (docs/server.md, "Checkpoints on
/// disk"). A test hook runs after each; the crash test kills the process there. Up to
/// <see cref="PointerWritten"/> the name loads the old checkpoint, from <see cref="PointerReplaced"/> on the new one.
/// </summary>
internal enum SaveStep
{
    /// <summary>NAME/ exists (created with its parent fsynced) and leftovers of earlier saves are removed.</summary>
    FolderReady,

    /// <summary>NAME/.tmp-ID/ created.</summary>
    TempCreated,

    /// <summary>The caller's files are in the temporary folder, not yet fsynced.</summary>
    FilesWritten,

    /// <summary>Every file fsynced.</summary>
    FilesSynced,

    /// <summary>manifest.json written and fsynced, then the temporary folder fsynced.</summary>
    ManifestWritten,

    /// <summary>Renamed to NAME/v-N/.</summary>
    VersionRenamed,

    /// <summary>NAME/ fsynced: the version folder's entry is durable.</summary>
    VersionDurable,

    /// <summary>NAME/.CURRENT.tmp-ID holds "v-N", fsynced.</summary>
    PointerWritten,

    /// <summary>Renamed over NAME/CURRENT: from here the name loads the new version.</summary>
    PointerReplaced,

    /// <summary>NAME/ fsynced: the new pointer is durable.</summary>
    PointerDurable,

    /// <summary>The other version folders renamed to NAME/.old-ID/.</summary>
    OldRetired,

    /// <summary>The first file of a retired version deleted (only when there was an old version).</summary>
    OldPartlyDeleted,

    /// <summary>Retired versions deleted.</summary>
    Done,
}
