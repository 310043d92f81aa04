using BenchmarkDotNet.Running;

namespace Postern.Benchmarks;

public static class Program
{
    /// <summary>Runs the benchmarks chosen on the command line (BenchmarkDotNet switcher, e.g. --filter *Mime*).</summary>
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
