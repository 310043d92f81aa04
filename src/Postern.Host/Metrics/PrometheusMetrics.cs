using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Postern.Host.Metrics;

/// <summary>
/// Collects the instruments of Postern's meters (and the .NET runtime's) with a <see cref="MeterListener"/>
/// and renders them in the Prometheus text exposition format (version 0.0.4) for <c>/metrics</c>.
/// Counters become <c>_total</c> series, histograms cumulative <c>_bucket</c>/<c>_sum</c>/<c>_count</c>.
/// </summary>
public sealed class PrometheusMetrics : IDisposable
{
    private static readonly double[] DefaultBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<Instrument, ConcurrentDictionary<string, Series>> _series = new();
    private readonly Func<string, bool> _meterFilter;

    public PrometheusMetrics(Func<string, bool>? meterFilter = null)
    {
        _meterFilter = meterFilter ?? (name => name.StartsWith("Postern", StringComparison.Ordinal) || name == "System.Runtime");
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (_meterFilter(instrument.Meter.Name))
            {
                _series.TryAdd(instrument, new ConcurrentDictionary<string, Series>(StringComparer.Ordinal));
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<float>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<short>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<byte>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<decimal>((i, v, tags, _) => Record(i, (double)v, tags));
        _listener.Start();
    }

    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>The current values in Prometheus text format.</summary>
    public string Render()
    {
        foreach (var series in _series.Values)
        {
            foreach (var s in series.Values)
            {
                if (s.Observable)
                {
                    s.ResetGauge();
                }
            }
        }

        _listener.RecordObservableInstruments();
        var text = new StringBuilder();
        using var process = Process.GetCurrentProcess();
        AppendSample(text, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", process.WorkingSet64);
        AppendSample(text, "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch in seconds.", new DateTimeOffset(process.StartTime).ToUnixTimeMilliseconds() / 1000.0);
        AppendSample(text, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", process.TotalProcessorTime.TotalSeconds);

        foreach (var (instrument, series) in _series.OrderBy(kv => kv.Key.Meter.Name + "/" + kv.Key.Name, StringComparer.Ordinal))
        {
            if (series.IsEmpty)
            {
                continue;
            }

            var isCounter = instrument is Counter<long> or Counter<int> or Counter<double> or Counter<float> or Counter<short> or Counter<byte> or Counter<decimal>
                || instrument.GetType().Name.StartsWith("ObservableCounter", StringComparison.Ordinal);
            var isHistogram = instrument.GetType().Name.StartsWith("Histogram", StringComparison.Ordinal);
            var name = MetricName(instrument.Name, instrument.Unit);
            var help = Escape(instrument.Description ?? instrument.Name);
            if (isHistogram)
            {
                text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
                text.Append("# TYPE ").Append(name).Append(" histogram\n");
                foreach (var (labels, s) in series.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    s.AppendHistogram(text, name, labels);
                }

                continue;
            }

            var fullName = isCounter ? name + "_total" : name;
            text.Append("# HELP ").Append(fullName).Append(' ').Append(help).Append('\n');
            text.Append("# TYPE ").Append(fullName).Append(isCounter ? " counter\n" : " gauge\n");
            foreach (var (labels, s) in series.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                text.Append(fullName).Append(labels.Length == 0 ? string.Empty : "{" + labels + "}").Append(' ')
                    .Append(Format(s.Value)).Append('\n');
            }
        }

        return text.ToString();
    }

    public void Dispose() => _listener.Dispose();

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (!_series.TryGetValue(instrument, out var series))
        {
            return;
        }

        var labels = Labels(tags);
        var s = series.GetOrAdd(labels, _ => new Series(instrument));
        s.Add(value);
    }

    private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.Length == 0)
        {
            return string.Empty;
        }

        var pairs = new List<string>(tags.Length);
        foreach (var tag in tags)
        {
            pairs.Add(Sanitize(tag.Key) + "=\"" + Escape(Convert.ToString(tag.Value, CultureInfo.InvariantCulture) ?? string.Empty) + "\"");
        }

        pairs.Sort(StringComparer.Ordinal);
        return string.Join(',', pairs);
    }

    internal static string MetricName(string name, string? unit)
    {
        var n = Sanitize(name);
        var suffix = unit switch
        {
            "s" => "_seconds",
            "ms" => "_milliseconds",
            "By" => "_bytes",
            _ => string.Empty,
        };
        return suffix.Length > 0 && !n.EndsWith(suffix, StringComparison.Ordinal) ? n + suffix : n;
    }

    private static string Sanitize(string name)
    {
        var chars = name.Select(c => char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_').ToArray();
        if (chars.Length > 0 && char.IsAsciiDigit(chars[0]))
        {
            return "_" + new string(chars);
        }

        return new string(chars);
    }

    private static string Escape(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);

    private static string Format(double value) => double.IsPositiveInfinity(value) ? "+Inf" : value.ToString("R", CultureInfo.InvariantCulture);

    private static void AppendSample(StringBuilder text, string name, string type, string help, double value) =>
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n')
            .Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n')
            .Append(name).Append(' ').Append(Format(value)).Append('\n');

    private sealed class Series
    {
        private readonly object _gate = new();
        private readonly double[] _bounds;
        private readonly long[] _buckets;
        private readonly bool _histogram;
        private readonly bool _accumulates;
        private double _value;
        private double _sum;
        private long _count;

        public Series(Instrument instrument)
        {
            var typeName = instrument.GetType().Name;
            _histogram = typeName.StartsWith("Histogram", StringComparison.Ordinal);
            Observable = instrument.IsObservable;
            _accumulates = !Observable && (typeName.StartsWith("Counter", StringComparison.Ordinal) || typeName.StartsWith("UpDownCounter", StringComparison.Ordinal));
            _bounds = _histogram ? BucketsOf(instrument) : [];
            _buckets = new long[_bounds.Length + 1];
        }

        public bool Observable { get; }

        public double Value
        {
            get
            {
                lock (_gate)
                {
                    return _value;
                }
            }
        }

        public void ResetGauge()
        {
            lock (_gate)
            {
                _value = 0;
            }
        }

        public void Add(double value)
        {
            lock (_gate)
            {
                if (_histogram)
                {
                    var i = 0;
                    while (i < _bounds.Length && value > _bounds[i])
                    {
                        i++;
                    }

                    _buckets[i]++;
                    _sum += value;
                    _count++;
                }
                else if (_accumulates || Observable)
                {
                    // Observable instruments report one value per series per collection; sums across
                    // measurements of the same series (e.g. several callbacks) are added up.
                    _value += value;
                }
                else
                {
                    _value = value;
                }
            }
        }

        public void AppendHistogram(StringBuilder text, string name, string labels)
        {
            lock (_gate)
            {
                long cumulative = 0;
                var prefix = labels.Length == 0 ? string.Empty : labels + ",";
                for (var i = 0; i < _bounds.Length; i++)
                {
                    cumulative += _buckets[i];
                    text.Append(name).Append("_bucket{").Append(prefix).Append("le=\"").Append(Format(_bounds[i])).Append("\"} ").Append(cumulative).Append('\n');
                }

                cumulative += _buckets[^1];
                text.Append(name).Append("_bucket{").Append(prefix).Append("le=\"+Inf\"} ").Append(cumulative).Append('\n');
                var suffix = labels.Length == 0 ? string.Empty : "{" + labels + "}";
                text.Append(name).Append("_sum").Append(suffix).Append(' ').Append(Format(_sum)).Append('\n');
                text.Append(name).Append("_count").Append(suffix).Append(' ').Append(_count).Append('\n');
            }
        }

        private static double[] BucketsOf(Instrument instrument)
        {
            var advice = instrument switch
            {
                Histogram<double> h => h.Advice?.HistogramBucketBoundaries?.Select(b => b).ToArray(),
                Histogram<long> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray(),
                Histogram<int> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray(),
                _ => null,
            };
            return advice ?? DefaultBuckets;
        }
    }
}
