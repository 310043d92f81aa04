using System.Collections;
using System.Text;
using Postern.Mime.Headers;
using Postern.Mime.Writing;

namespace Postern.Mime;

/// <summary>One header field: its raw bytes (name, colon, value, folds and final line break) and where they came from.</summary>
public readonly struct HeaderField
{
    private readonly int _nameLength;
    private readonly int _valueStart;

    internal HeaderField(ReadOnlyMemory<byte> raw, int offset, int nameLength, int valueStart)
    {
        Raw = raw;
        Offset = offset;
        _nameLength = nameLength;
        _valueStart = valueStart;
    }

    /// <summary>A field read from <paramref name="source"/>[start..end); raw lines (not fields) are kept as they are.</summary>
    internal static HeaderField FromSource(ReadOnlyMemory<byte> source, int start, int end, bool isField)
    {
        var raw = source[start..end];
        if (!isField)
        {
            return new HeaderField(raw, start, 0, 0);
        }

        var span = raw.Span;
        var i = 0;
        while (i < span.Length && span[i] > 32 && span[i] < 127 && span[i] != ':')
        {
            i++;
        }

        var nameLength = i;
        while (i < span.Length && span[i] != ':')
        {
            i++;
        }

        return new HeaderField(raw, start, nameLength, Math.Min(i + 1, span.Length));
    }

    /// <summary>The field exactly as received (or as written by a change), with its final line break.</summary>
    public ReadOnlyMemory<byte> Raw { get; }

    /// <summary>Offset of the field in the parsed input, or -1 for a field added or changed after parsing.</summary>
    public int Offset { get; }

    /// <summary>False for raw lines kept only for the round trip (an mbox From line, junk, overflow past a limit).</summary>
    public bool IsField => _nameLength > 0;

    /// <summary>The name's bytes.</summary>
    public ReadOnlySpan<byte> NameBytes => Raw.Span[.._nameLength];

    /// <summary>The field name as written.</summary>
    public string Name => Encoding.ASCII.GetString(NameBytes);

    /// <summary>The bytes after the colon, with folds and the final line break.</summary>
    public ReadOnlyMemory<byte> RawValue => Raw[_valueStart..];

    /// <summary>The value unfolded, 8-bit decoded and RFC 2047 decoded (for unstructured fields; structured fields have their own parsers).</summary>
    public string Value => IsField ? HeaderText.DecodeUnstructured(RawValue.Span) : string.Empty;

    /// <summary>True when the name equals <paramref name="name"/> ignoring ASCII case.</summary>
    public bool NameIs(string name)
    {
        var n = NameBytes;
        if (n.Length != name.Length)
        {
            return false;
        }

        for (var i = 0; i < n.Length; i++)
        {
            var a = n[i];
            var b = name[i];
            if (a != b && (a | 0x20) != (b | 0x20))
            {
                return false;
            }
        }

        return true;
    }

    /// <inheritdoc />
    public override string ToString() => IsField ? Name + ": " + Value : "(raw line)";
}

/// <summary>The ordered header fields of an entity. Parsed fields are kept as offsets into the input (one integer each)
/// until the first change; changes touch only the fields changed.</summary>
public sealed class HeaderList : IReadOnlyList<HeaderField>
{
    private readonly ReadOnlyMemory<byte> _source;
    private readonly int[]? _table;
    private readonly int _first;
    private HeaderField[]? _items;
    private int _count;
    private readonly bool _crlf;
    private readonly int _start;

    /// <summary>Fields [first, first+count) of a table of field ends (a negative end marks a raw line). Fields are
    /// contiguous, so each starts where the one before ended and the first at <paramref name="start"/>.</summary>
    internal HeaderList(ReadOnlyMemory<byte> source, int[]? table, int first, int count, bool crlf, int start)
    {
        _source = source;
        _table = table;
        _first = first;
        _count = count;
        _crlf = crlf;
        _start = start;
    }

    /// <summary>True after any change.</summary>
    public bool IsModified { get; private set; }

    public int Count => _count;

    public HeaderField this[int index]
    {
        get
        {
            if ((uint)index >= (uint)_count)
            {
                throw new ArgumentOutOfRangeException(nameof(index));
            }

            if (_items is not null)
            {
                return _items[index];
            }

            var k = _first + index;
            var end = _table![k];
            var start = index == 0 ? _start : Math.Abs(_table[k - 1]);
            return HeaderField.FromSource(_source, start, Math.Abs(end), end > 0);
        }
    }

    /// <summary>The first field with this name, or null.</summary>
    public HeaderField? GetField(string name)
    {
        for (var i = 0; i < _count; i++)
        {
            var f = this[i];
            if (f.IsField && f.NameIs(name))
            {
                return f;
            }
        }

        return null;
    }

    /// <summary>The decoded value of the first field with this name, or null.</summary>
    public string? this[string name] => GetField(name)?.Value;

    /// <summary>Every field with this name, in order.</summary>
    public IEnumerable<HeaderField> GetAll(string name)
    {
        for (var i = 0; i < _count; i++)
        {
            var f = this[i];
            if (f.IsField && f.NameIs(name))
            {
                yield return f;
            }
        }
    }

    /// <summary>Replaces the first field with this name (in place) or appends one; other fields keep their bytes.</summary>
    public void Set(string name, string value)
    {
        var field = Make(name, value);
        var items = Materialise();
        for (var i = 0; i < _count; i++)
        {
            if (items[i].IsField && items[i].NameIs(name))
            {
                items[i] = field;
                IsModified = true;
                return;
            }
        }

        Insert(_count, field);
    }

    /// <summary>Appends a field.</summary>
    public void Add(string name, string value) => Insert(_count, Make(name, value));

    /// <summary>Adds a field at <paramref name="index"/> (0 = first, as trace fields are prepended).</summary>
    public void Insert(int index, string name, string value) => Insert(index, Make(name, value));

    /// <summary>Removes every field with this name; returns how many.</summary>
    public int Remove(string name)
    {
        var items = Materialise();
        var removed = 0;
        var w = 0;
        for (var i = 0; i < _count; i++)
        {
            if (items[i].IsField && items[i].NameIs(name))
            {
                removed++;
                continue;
            }

            items[w++] = items[i];
        }

        Array.Clear(items, w, _count - w);
        _count = w;
        IsModified |= removed > 0;
        return removed;
    }

    private HeaderField[] Materialise()
    {
        if (_items is null)
        {
            var items = new HeaderField[Math.Max(4, _count + 2)];
            for (var i = 0; i < _count; i++)
            {
                items[i] = this[i];
            }

            _items = items;
        }

        return _items;
    }

    private void Insert(int index, HeaderField field)
    {
        var items = Materialise();
        index = Math.Clamp(index, 0, _count);
        if (_count == items.Length)
        {
            Array.Resize(ref items, Math.Max(4, _count * 2));
            _items = items;
        }

        Array.Copy(items, index, items, index + 1, _count - index);
        items[index] = field;
        _count++;
        IsModified = true;
    }

    private HeaderField Make(string name, string value)
    {
        var raw = HeaderEncoder.EncodeField(name, value, _crlf ? "\r\n" : "\n");
        return new HeaderField(raw, -1, name.Length, name.Length + 1);
    }

    public IEnumerator<HeaderField> GetEnumerator()
    {
        for (var i = 0; i < _count; i++)
        {
            yield return this[i];
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
