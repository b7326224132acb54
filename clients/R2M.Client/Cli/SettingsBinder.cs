using System.CommandLine;
using System.Globalization;
using System.Reflection;
using System.Text;
using R2M.Client.Training;

namespace R2M.Client.Cli;

/// <summary>
/// Turns every <see cref="SettingAttribute"/> property of a settings class into a command-line
/// option (kebab-case) and applies the options the user actually gave on top of a settings
/// object loaded from the config file, so flags override file entries and both forms exist for
/// every setting by construction.
/// </summary>
internal sealed class SettingsBinder<T>
    where T : class
{
    private readonly List<(PropertyInfo Property, Option Option)> _bindings = [];

    public SettingsBinder(Command command, T defaults, Func<PropertyInfo, bool>? include = null)
    {
        foreach (PropertyInfo p in typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (p.GetCustomAttribute<SettingAttribute>() is not { } setting || (include is not null && !include(p)))
            {
                continue;
            }

            string flag = "--" + KebabCase(p.Name);
            object? current = p.GetValue(defaults);
            // One default in the help: this command's value (the demo's differ from train's), else what null means.
            string? shown = current is null ? setting.WhenNull : Format(current);
            string description = setting.Description + (shown is null ? "" : $" [default: {shown}]");
            Option option = p.PropertyType == typeof(bool)
                ? new Option<bool>(flag) { Description = description }
                : new Option<string>(flag) { Description = description, HelpName = TypeName(p.PropertyType) };
            command.Options.Add(option);
            _bindings.Add((p, option));
        }
    }

    /// <summary>Copies each option given on the command line into <paramref name="target"/>.</summary>
    public void Apply(ParseResult result, T target)
    {
        foreach ((PropertyInfo p, Option option) in _bindings)
        {
            if (result.GetResult(option) is not { Implicit: false })
            {
                continue;
            }

            object? value = option is Option<bool> b ? result.GetValue(b) : Convert(option.Name, result.GetValue((Option<string>)option), p.PropertyType);
            p.SetValue(target, value);
        }
    }

    internal static string KebabCase(string name)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            if (char.IsUpper(c) && i > 0 && (char.IsLower(name[i - 1]) || (i + 1 < name.Length && char.IsLower(name[i + 1]))))
            {
                sb.Append('-');
            }

            sb.Append(char.ToLowerInvariant(c));
        }

        return sb.ToString();
    }

    private static object? Convert(string flag, string? text, Type type)
    {
        Type inner = Nullable.GetUnderlyingType(type) ?? type;
        if (text is null || (inner != type && text.Length == 0))
        {
            return inner == typeof(string) || inner != type ? null : throw new ArgumentException($"{flag} needs a value");
        }

        try
        {
            object value = inner switch
            {
                _ when inner == typeof(string) => text,
                _ when inner == typeof(int) => int.Parse(text, CultureInfo.InvariantCulture),
                _ when inner == typeof(ulong) => ulong.Parse(text, CultureInfo.InvariantCulture),
                _ when inner == typeof(double) => double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture),
                _ => throw new ArgumentException($"{flag}: settings of type {inner.Name} are not supported"),
            };
            return value;
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            throw new ArgumentException($"{flag} '{text}' is not a valid {TypeName(inner)}");
        }
    }

    private static string TypeName(Type t)
    {
        Type inner = Nullable.GetUnderlyingType(t) ?? t;
        return inner == typeof(int) || inner == typeof(ulong) ? "integer" : inner == typeof(double) ? "number" : "text";
    }

    private static string Format(object value) =>
        value is IFormattable f ? f.ToString(null, CultureInfo.InvariantCulture) : value.ToString() ?? "";
}
