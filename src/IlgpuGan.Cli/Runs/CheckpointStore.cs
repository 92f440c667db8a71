using IlgpuGan.IO;
using System.Globalization;
using System.Text.RegularExpressions;

namespace IlgpuGan.Cli.Runs;

/// <summary>
/// The checkpoints of one run: <c>step-NNNNNNNN.safetensors</c> files in a folder and
/// <c>latest.safetensors</c>, a symbolic link to the newest (a copy where links are not allowed).
/// A new checkpoint is written under its own name, then <c>latest</c> is re-pointed, then older ones
/// beyond the newest <c>keep</c> are deleted: a process killed at any instant leaves <c>latest</c>
/// naming a complete file. An existing file that does not load is never written over: it is renamed
/// to <c>*.corrupt</c> first.
/// </summary>
public sealed partial class CheckpointStore(string folder)
{
    public const string LatestName = "latest.safetensors", LastGoodName = "last-good.safetensors", BestName = "best.safetensors";

    public string Folder { get; } = Path.GetFullPath(folder);
    public string LatestPath => Path.Combine(Folder, LatestName);
    /// <summary>A symbolic link to the newest checkpoint whose values were sane (<see cref="IlgpuGan.Recipes.DivergenceGuard"/>);
    /// never pruned while it is named there.</summary>
    public string LastGoodPath => Path.Combine(Folder, LastGoodName);

    /// <summary>A symbolic link to the checkpoint of the lowest FID (<c>train --eval-every</c>); never pruned while it is named there.</summary>
    public string BestPath => Path.Combine(Folder, BestName);

    /// <summary>The file <c>best</c> names (resolved), or null.</summary>
    public string? BestFile() => LinkedFile(BestPath, plainFileCounts: false);

    public static string FileName(long step) => $"step-{step.ToString("D8", CultureInfo.InvariantCulture)}.safetensors";

    [GeneratedRegex(@"^step-(\d+)\.safetensors$")]
    private static partial Regex StepFile();

    /// <summary>The step files, newest first.</summary>
    public IReadOnlyList<(long Step, string Path)> List()
    {
        if (!Directory.Exists(Folder)) return [];
        return Directory.EnumerateFiles(Folder, "step-*.safetensors")
            .Select(p => (Match: StepFile().Match(Path.GetFileName(p)), Path: p))
            .Where(x => x.Match.Success)
            .Select(x => (long.Parse(x.Match.Groups[1].Value, CultureInfo.InvariantCulture), x.Path))
            .OrderByDescending(x => x.Item1)
            .ToList();
    }

    public bool IsEmpty => !File.Exists(LatestPath) && List().Count == 0;

    /// <summary>The file <c>latest</c> names (resolved), or the newest step file when there is no
    /// <c>latest</c> (a process killed between writing its first checkpoint and linking it); null if none.</summary>
    public string? LatestFile()
    {
        var info = new FileInfo(LatestPath);
        if (info.LinkTarget is { } target) return Path.GetFullPath(Path.Combine(Folder, target));
        if (info.Exists) return LatestPath;
        return List().FirstOrDefault().Path;
    }

    /// <summary>The file <c>last-good</c> names (resolved), or null where no checkpoint of sane values was written
    /// (or the run predates the link).</summary>
    public string? LastGoodFile() => LinkedFile(LastGoodPath, plainFileCounts: true);

    /// <summary>The existing file a link in this folder names (resolved), or, with <paramref name="plainFileCounts"/>,
    /// the path itself when it is a plain file; else null.</summary>
    private string? LinkedFile(string link, bool plainFileCounts)
    {
        var info = new FileInfo(link);
        if (info.LinkTarget is { } target)
        {
            string file = Path.GetFullPath(Path.Combine(Folder, target));
            return File.Exists(file) ? file : null;
        }
        return plainFileCounts && info.Exists ? link : null;
    }

    /// <summary>Writes the checkpoint of the session's current step, points <c>latest</c> at it (and <c>last-good</c>
    /// when <paramref name="sane"/>) and prunes to the newest <paramref name="keep"/>, sparing the last good one. Returns its path.</summary>
    public string Save(Session s, RunHistory history, int keep, bool sane = true)
    {
        Directory.CreateDirectory(Folder);
        long step = s.Recipe.Step;
        string path = Path.Combine(Folder, FileName(step));
        if (File.Exists(path)) SetAsideIfCorrupt(path);
        Checkpoint.Save(path, s, history);
        if (File.Exists(LatestPath) && new FileInfo(LatestPath).LinkTarget is null) SetAsideIfCorrupt(LatestPath);
        AtomicFile.PointLink(LatestPath, path);
        if (sane) AtomicFile.PointLink(LastGoodPath, path);
        else if (LastGoodFile() is { } good && Path.GetFullPath(good) == Path.GetFullPath(path))
            File.Delete(LastGoodPath);                                  // the step was rewritten with exploded values
        Prune(step, keep);
        return path;
    }

    /// <summary>Deletes step files older than <paramref name="current"/> beyond the newest <paramref name="keep"/>
    /// (the current one included), except the one <c>last-good</c> names. Files after the current step (left by a
    /// run resumed from an older checkpoint) are left alone.</summary>
    public void Prune(long current, int keep)
    {
        string? good = LastGoodFile() is { } g ? Path.GetFullPath(g) : null;
        string? best = BestFile() is { } b ? Path.GetFullPath(b) : null;
        foreach (var (_, path) in List().Where(c => c.Step <= current).Skip(Math.Max(1, keep)))
        {
            if (Path.GetFullPath(path) == good || Path.GetFullPath(path) == best) continue;
            try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static void SetAsideIfCorrupt(string path)
    {
        try { Checkpoint.Load(path); }
        catch (InvalidDataException)
        {
            string aside = path + ".corrupt";
            for (int i = 1; File.Exists(aside); i++) aside = $"{path}.corrupt{i}";
            File.Move(path, aside);
        }
    }

    /// <summary>The checkpoint to resume from: <paramref name="path"/> when given (a file, a run folder or a
    /// checkpoints folder), else this store's latest. A corrupt one is an error naming it and the newest
    /// older one that loads.</summary>
    public static LoadedCheckpoint LoadForResume(string path) => Find(path, "Nothing to resume from");

    /// <summary>As <see cref="LoadForResume"/>, for a command that reads a checkpoint (sample, eval): a missing one
    /// is "No checkpoint at ...".</summary>
    public static LoadedCheckpoint LoadToRead(string path) => Find(path, "No checkpoint at");

    private static LoadedCheckpoint Find(string path, string nothing)
    {
        string full = Path.GetFullPath(path);
        if (File.Exists(full)) return LoadOrExplain(full, null);
        if (!Directory.Exists(full)) throw new CliException($"{nothing}: {full} does not exist.");
        var store = new CheckpointStore(Directory.Exists(Path.Combine(full, "checkpoints")) ? Path.Combine(full, "checkpoints") : full);
        string file = store.LatestFile() ?? throw new CliException($"{nothing}: {store.Folder} holds no checkpoint.");
        return LoadOrExplain(file, store);
    }

    private static LoadedCheckpoint LoadOrExplain(string file, CheckpointStore? store)
    {
        try { return Checkpoint.Load(file); }
        catch (Exception e) when (e is InvalidDataException or FileNotFoundException)
        {
            store ??= new CheckpointStore(Path.GetDirectoryName(file)!);
            string? older = null;
            foreach (var (_, p) in store.List())
            {
                if (Path.GetFullPath(p) == Path.GetFullPath(file)) continue;
                try { Checkpoint.Load(p); older = p; break; } catch (Exception x) when (x is InvalidDataException or IOException) { }
            }
            string hint = older is null ? " No other checkpoint there loads." : $" The newest one that loads is {older}: resume from it with --resume {older}";
            throw new CliException(e.Message + hint, ExitCodes.Error, e);
        }
    }
}
