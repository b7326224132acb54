using System.CommandLine;
using R2M.Client.Training;

namespace R2M.Client.Cli;

/// <summary><c>r2m-client study</c>: the pre-registered study of docs/study.md.</summary>
internal static class StudyCommands
{
    public static Command Create(TextWriter stdout)
    {
        var command = new Command("study", "the pre-registered study (docs/study.md): every task x nine rows x seeds, RM lr chosen on validation seeds, intervals, figures");
        var studyBinder = new SettingsBinder<StudySettings>(command, new StudySettings());
        var trainBinder = new SettingsBinder<TrainSettings>(command, StudyRunner.Defaults(), p => !StudyRunner.SetPerRun.Contains(p.Name));
        command.SetAction(async (parse, ct) =>
        {
            var study = new StudySettings();
            studyBinder.Apply(parse, study);
            TrainSettings s = StudyRunner.Defaults();
            trainBinder.Apply(parse, s);
            bool interactive = !Console.IsOutputRedirected && ReferenceEquals(stdout, Console.Out);
            var runner = new StudyRunner(study, s, stdout)
            {
                Hooks = run =>
                {
                    var bar = new ProgressBar($"{run.Task,-18} {run.RunName,-28}", run.Steps, stdout, interactive);
                    return (m => bar.Step(m.Step, ClientCli.StepSummary(m)), (step, phase) => bar.Phase(step - 1, $"step {step}: {phase}"));
                },
            };
            StudyResult? result = await runner.RunAsync(ct).ConfigureAwait(false);
            if (result is not null)
            {
                stdout.WriteLine($"study: {result.RunsDone} runs done, {result.RunsSkipped} found done, in {result.Elapsed.TotalMinutes:F1} min");
                stdout.WriteLine($"results: {Path.GetFullPath(result.ResultsPath)}");
            }

            return 0;
        });
        return command;
    }
}
