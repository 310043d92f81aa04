using System.Text;

namespace Postern.Tenants;

/// <summary>One CSV record (or the error that stopped it) with the line it starts on.</summary>
public sealed record CsvRecord(int Line, IReadOnlyList<string> Fields, string? Error);

/// <summary>
/// An RFC 4180 reader: comma separated, double-quoted fields with <c>""</c> escapes and line breaks
/// inside quotes, CRLF or LF line ends. Total: a broken quote is reported on its record with the line
/// number, and reading goes on with the next line.
/// </summary>
public static class Csv
{
    public const int MaxFieldLength = 4096;
    public const int MaxFields = 64;

    public static IEnumerable<CsvRecord> Read(TextReader reader)
    {
        var line = 0;
        string? text;
        while ((text = reader.ReadLine()) is not null)
        {
            line++;
            var startLine = line;
            if (text.Length == 0)
            {
                continue;
            }

            var fields = new List<string>();
            var field = new StringBuilder();
            string? error = null;
            var i = 0;
            var inQuotes = false;
            var quotedField = false;
            while (true)
            {
                if (i >= text.Length)
                {
                    if (inQuotes)
                    {
                        var next = reader.ReadLine();
                        if (next is null)
                        {
                            error = "a quoted field is not closed";
                            break;
                        }

                        line++;
                        field.Append('\n');
                        text = next;
                        i = 0;
                        continue;
                    }

                    fields.Add(field.ToString());
                    break;
                }

                var c = text[i];
                if (inQuotes)
                {
                    if (c == '"')
                    {
                        if (i + 1 < text.Length && text[i + 1] == '"')
                        {
                            field.Append('"');
                            i += 2;
                            continue;
                        }

                        inQuotes = false;
                        i++;
                        if (i < text.Length && text[i] != ',')
                        {
                            error = $"unexpected text after a closing quote (column {fields.Count + 1})";
                            break;
                        }

                        continue;
                    }

                    field.Append(c);
                }
                else if (c == ',')
                {
                    fields.Add(field.ToString());
                    field.Clear();
                    quotedField = false;
                }
                else if (c == '"')
                {
                    if (field.Length > 0 || quotedField)
                    {
                        error = $"a quote inside an unquoted field (column {fields.Count + 1})";
                        break;
                    }

                    inQuotes = true;
                    quotedField = true;
                }
                else
                {
                    field.Append(c);
                }

                if (field.Length > MaxFieldLength)
                {
                    error = $"a field is longer than {MaxFieldLength} characters (column {fields.Count + 1})";
                    break;
                }

                if (fields.Count > MaxFields)
                {
                    error = $"more than {MaxFields} columns";
                    break;
                }

                i++;
            }

            if (error is not null && inQuotes)
            {
                yield return new CsvRecord(startLine, fields, error);
                yield break; // an unclosed quote swallowed the rest of the file
            }

            yield return new CsvRecord(startLine, fields, error);
        }
    }
}
