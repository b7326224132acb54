namespace R2M.Client.Training;

/// <summary>
/// Marks a settings property that is both a command-line flag (kebab-case of the name, e.g.
/// <c>--omega-floor</c>) and a JSON config-file entry (camelCase, e.g. <c>"omegaFloor"</c>), so no
/// hyperparameter can exist in one form and not the other.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class SettingAttribute(string description) : Attribute
{
    public string Description { get; } = description;

    /// <summary>
    /// What a null value means, shown in help as "[default: ...]" (e.g. "the server's"); a
    /// non-null default is shown as its value instead, so help never states two defaults.
    /// </summary>
    public string? WhenNull { get; init; }
}
