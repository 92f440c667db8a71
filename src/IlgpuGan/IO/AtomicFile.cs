using System.Runtime.InteropServices;
using System.Text;

namespace IlgpuGan.IO;

/// <summary>
/// Crash-safe file replacement: the bytes go to a temporary file in the target's folder, which is
/// flushed to disk (fsync) and renamed over the target; then the folder itself is fsynced so the
/// rename survives a power cut. A reader, or a process killed at any instant, sees the old file or
/// the new one, never a mix.
/// </summary>
public static partial class AtomicFile
{
    /// <summary>The prefix and suffix of every temporary file written here (stale ones from a killed
    /// process are removed by <see cref="CleanStaleTemporaries"/>).</summary>
    public const string TempPrefix = ".", TempSuffix = ".tmp";

    public static void WriteAllBytes(string path, byte[] bytes) => Write(path, stream => stream.Write(bytes));

    /// <summary>Replaces <paramref name="path"/> with what <paramref name="write"/> puts into the stream.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(folder);
        string temp = TempPath(folder, Path.GetFileName(full));
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
        SyncFolder(folder);
    }

    private static string TempPath(string folder, string name) =>
        Path.Combine(folder, $"{TempPrefix}{name}.{Environment.ProcessId}.{Guid.NewGuid():N}{TempSuffix}");

    public static void WriteAllText(string path, string text) => WriteAllBytes(path, Encoding.UTF8.GetBytes(text));

    /// <summary>Makes <paramref name="link"/> a symbolic link to <paramref name="target"/> (a name in the
    /// same folder) atomically: a new link under a temporary name renamed over the old one. Where
    /// symbolic links are not allowed (some Windows setups), copies the file atomically instead.</summary>
    public static void PointLink(string link, string target)
    {
        string folder = Path.GetDirectoryName(Path.GetFullPath(link))!;
        string temp = TempPath(folder, Path.GetFileName(link));
        try
        {
            File.CreateSymbolicLink(temp, Path.GetFileName(target));
            File.Move(temp, link, overwrite: true);
            SyncFolder(folder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            TryDelete(temp);
            WriteAllBytes(link, File.ReadAllBytes(Path.Combine(folder, Path.GetFileName(target))));
        }
    }

    /// <summary>Removes temporary files that a killed process left in <paramref name="folder"/>.</summary>
    public static void CleanStaleTemporaries(string folder)
    {
        if (!Directory.Exists(folder)) return;
        foreach (var f in Directory.EnumerateFiles(folder, TempPrefix + "*" + TempSuffix)) TryDelete(f);
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>fsync on the folder (POSIX only; elsewhere a rename is already durable or cannot be synced).</summary>
    public static void SyncFolder(string folder)
    {
        if (OperatingSystem.IsWindows()) return;
        int fd = Open(folder, 0 /* O_RDONLY */);
        if (fd < 0) return;
        try { _ = FSync(fd); } finally { _ = Close(fd); }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync")]
    private static partial int FSync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
