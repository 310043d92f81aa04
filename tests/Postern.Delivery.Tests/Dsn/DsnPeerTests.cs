using System.Text.Json;
using Postern.Delivery.Dsn;
using Postern.Mime;

namespace Postern.Delivery.Tests.Dsn;

/// <summary>
/// Every DSN case read by two parsers we did not write: Python's <c>email</c> package (policy.default; it exposes a
/// message/delivery-status part as one sub-message per field group) and npm mailparser (with keepDeliveryStatus, so
/// the report is an attachment; its field groups are read with mailparser's own header parser).
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class DsnPeerTests
{
    private const string PythonScript = """
        import sys, json, email
        from email import policy
        from email.parser import BytesHeaderParser

        def txt(v):
            # Raw UTF-8 header bytes (RFC 6532) come back as surrogate escapes: read them as UTF-8.
            return None if v is None else str(v).encode('utf-8', 'surrogateescape').decode('utf-8', 'replace')

        def fields(m):
            return [[k, txt(v)] for k, v in m.items()]

        def blocks(raw):
            out = []
            for b in raw.replace(b'\r\n', b'\n').split(b'\n\n'):
                if b.strip():
                    out.append(fields(BytesHeaderParser(policy=policy.default).parsebytes(b)))
            return out

        for path in sys.argv[1:]:
            with open(path, 'rb') as f:
                m = email.message_from_bytes(f.read(), policy=policy.default)
            r = {'file': path, 'multipart': m.is_multipart(), 'type': m.get_content_type(), 'reportType': m.get_param('report-type'),
                 'subject': txt(m['subject']), 'from': m['from'].addresses[0].addr_spec, 'fromName': m['from'].addresses[0].display_name,
                 'to': txt(m['to'].addresses[0].addr_spec), 'autoSubmitted': str(m['auto-submitted']), 'inReplyTo': str(m['in-reply-to']),
                 'defects': [p.get_content_type() + ': ' + type(d).__name__ for p in m.walk() for d in p.defects]}
            parts = m.get_payload()
            r['parts'] = [p.get_content_type() for p in parts]
            r['human'] = txt(parts[0].get_content())
            ds = parts[1]
            payload = ds.get_payload()
            if ds.get_content_type() == 'message/delivery-status':
                groups = [fields(g) for g in payload]
            else:
                # message/global-delivery-status is read as one message: the per-message fields are its header,
                # the recipient groups its body.
                first = payload[0]
                groups = [fields(first)] + blocks(first.get_payload(decode=True))
            r['perMessage'] = groups[0]
            r['recipients'] = groups[1:]
            if len(parts) > 2:
                ret = parts[2]
                r['returnedType'] = ret.get_content_type()
                if ret.get_content_maintype() == 'message':
                    inner = ret.get_payload()[0]
                    r['returnedMessageId'] = txt(inner['message-id'])
                    r['returnedSubject'] = txt(inner['subject'])
                    body = None if ret.get_content_type() == 'message/global-headers' else inner.get_body(preferencelist=('plain',))
                    r['returnedText'] = txt(body.get_content()) if body is not None else None
                else:
                    h = email.message_from_string(ret.get_content(), policy=policy.default)
                    r['returnedMessageId'] = txt(h['message-id'])
                    r['returnedSubject'] = txt(h['subject'])
            print(json.dumps(r))
        """;

    private const string MailparserScript = """
        const fs = require('fs');
        const { simpleParser } = require('mailparser');
        const headerGroup = async (buf) => {
          const m = await simpleParser(Buffer.concat([buf, Buffer.from('\r\n\r\n')]));
          const fields = [];
          for (const [k, v] of m.headers) fields.push([k, typeof v === 'string' ? v : (v && (v.text || v.value)) || JSON.stringify(v)]);
          return { fields, m };
        };
        (async () => {
          for (const file of process.argv.slice(2)) {
            const m = await simpleParser(fs.readFileSync(file), { keepDeliveryStatus: true, skipTextToHtml: true, skipImageLinks: true });
            const ct = m.headers.get('content-type');
            const atts = m.attachments || [];
            const ds = atts.find(a => a.contentType === 'message/delivery-status' || a.contentType === 'message/global-delivery-status');
            const groups = [];
            if (ds) {
              for (const block of ds.content.toString('utf8').replace(/\r\n/g, '\n').split(/\n[ \t]*\n/)) {
                if (block.trim()) groups.push((await headerGroup(Buffer.from(block, 'utf8'))).fields);
              }
            }
            const ret = atts.find(a => a !== ds);
            let returned = null;
            if (ret) {
              const h = await headerGroup(ret.content);
              returned = { contentType: ret.contentType, messageId: h.m.messageId || null, subject: h.m.subject || null };
            }
            process.stdout.write(JSON.stringify({
              file, contentType: ct.value, reportType: ct.params['report-type'] || null, subject: m.subject,
              from: m.from.value[0].address, fromName: m.from.value[0].name, to: m.to.value[0].address,
              autoSubmitted: m.headers.get('auto-submitted') || null, inReplyTo: m.inReplyTo || null, text: m.text || '',
              attachments: atts.map(a => a.contentType), perMessage: groups[0] || [], recipients: groups.slice(1), returned,
            }) + '\n');
          }
        })().catch(e => { console.error(e); process.exit(1); });
        """;

    private static string? Get(JsonElement group, string name)
    {
        foreach (var f in group.EnumerateArray())
        {
            if (string.Equals(f[0].GetString(), name, StringComparison.OrdinalIgnoreCase))
            {
                return f[1].GetString();
            }
        }

        return null;
    }

    /// <summary>The address of "type; address", decoded from the RFC 6533 forms.</summary>
    private static string TypedAddress(string? value)
    {
        Assert.NotNull(value);
        var semi = value.IndexOf(';', StringComparison.Ordinal);
        return DsnAddress.DecodeUtf8(value[(semi + 1)..].Trim());
    }

    private static Dictionary<string, JsonElement> Results(string output)
    {
        var results = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var e = JsonDocument.Parse(line).RootElement.Clone();
            results[Path.GetFileNameWithoutExtension(e.GetProperty("file").GetString()!)] = e;
        }

        return results;
    }

    private static void AssertReport(DsnCases.Case c, JsonElement perMessage, JsonElement recipients, string peer)
    {
        var x = c.Expect;
        Assert.Equal("dns; " + DsnCases.Host, Get(perMessage, "Reporting-MTA"));
        Assert.Equal(x.EnvelopeId, Get(perMessage, "Original-Envelope-Id"));
        Assert.True(recipients.GetArrayLength() == x.Recipients.Length, $"{peer} {c.Name}: {recipients}");
        for (var i = 0; i < x.Recipients.Length; i++)
        {
            var r = recipients[i];
            Assert.Equal(x.Recipients[i].Recipient, TypedAddress(Get(r, "Final-Recipient")));
            Assert.Equal(x.Recipients[i].Action, Get(r, "Action"));
            Assert.Equal(x.Recipients[i].Status, Get(r, "Status"));
            if (x.OriginalRecipients?[i] is { } orcpt)
            {
                Assert.Equal(orcpt, TypedAddress(Get(r, "Original-Recipient")));
            }

            if (c.Report.Recipients[i].RemoteReply is { } reply)
            {
                Assert.StartsWith("smtp; " + reply.Code.ToString(System.Globalization.CultureInfo.InvariantCulture), Get(r, "Diagnostic-Code"), StringComparison.Ordinal);
            }
        }
    }

    private static string Nl(string? s) => (s ?? string.Empty).Replace("\r\n", "\n", StringComparison.Ordinal);

    [Fact]
    public void Python_email_reads_every_case_as_a_delivery_report()
    {
        using var folder = new TempFolder();
        var cases = DsnCases.All().ToList();
        var files = cases.Select(c => folder.Write(c.Name + ".eml", c.Build())).ToList();
        var results = Results(Peers.RunPython(PythonScript, files));
        Assert.Equal(cases.Count, results.Count);
        foreach (var c in cases)
        {
            var r = results[c.Name];
            Assert.True(r.GetProperty("multipart").GetBoolean(), c.Name);
            Assert.Equal("multipart/report", r.GetProperty("type").GetString());
            Assert.Equal("delivery-status", r.GetProperty("reportType").GetString());
            Assert.Equal(c.Expect.Subject, r.GetProperty("subject").GetString());
            Assert.Equal("MAILER-DAEMON@" + DsnCases.Host, r.GetProperty("from").GetString());
            Assert.Equal("Mail Delivery System", r.GetProperty("fromName").GetString());
            Assert.Equal(c.Report.EnvelopeSender, r.GetProperty("to").GetString());
            Assert.Equal("auto-replied", r.GetProperty("autoSubmitted").GetString());
            Assert.Equal("<" + MimeParser.Parse(c.Report.OriginalMessage).MessageId + ">", r.GetProperty("inReplyTo").GetString());
            Assert.True(r.GetProperty("defects").GetArrayLength() == 0, c.Name + ": " + r.GetProperty("defects"));
            Assert.Equal(
                ["text/plain", c.Expect.Global ? "message/global-delivery-status" : "message/delivery-status", c.Expect.ReturnedType],
                r.GetProperty("parts").EnumerateArray().Select(p => p.GetString()!).ToArray());
            foreach (var mention in c.Expect.HumanMentions ?? [])
            {
                Assert.Contains(mention, r.GetProperty("human").GetString(), StringComparison.Ordinal);
            }

            AssertReport(c, r.GetProperty("perMessage"), r.GetProperty("recipients"), "python");
            Assert.Equal(c.Expect.ReturnedType, r.GetProperty("returnedType").GetString());
            var original = MimeParser.Parse(ReturnedContent.ToCrlf(c.Report.OriginalMessage.Span));
            Assert.Equal("<" + original.MessageId + ">", r.GetProperty("returnedMessageId").GetString());
            Assert.Equal(original.Subject, r.GetProperty("returnedSubject").GetString());
            if (r.TryGetProperty("returnedText", out var text) && text.ValueKind == JsonValueKind.String)
            {
                Assert.Equal(Nl(original.TextBody), Nl(text.GetString()));
            }
        }
    }

    [Fact]
    public void Mailparser_reads_every_case_as_a_delivery_report()
    {
        using var folder = new TempFolder();
        var cases = DsnCases.All().ToList();
        var files = cases.Select(c => folder.Write(c.Name + ".eml", c.Build())).ToList();
        var results = Results(Peers.RunMailparser(MailparserScript, files));
        Assert.Equal(cases.Count, results.Count);
        foreach (var c in cases)
        {
            var r = results[c.Name];
            Assert.Equal("multipart/report", r.GetProperty("contentType").GetString());
            Assert.Equal("delivery-status", r.GetProperty("reportType").GetString());
            Assert.Equal(c.Expect.Subject, r.GetProperty("subject").GetString());
            Assert.Equal("MAILER-DAEMON@" + DsnCases.Host, r.GetProperty("from").GetString());
            Assert.Equal("Mail Delivery System", r.GetProperty("fromName").GetString());
            Assert.Equal(c.Report.EnvelopeSender, r.GetProperty("to").GetString());
            Assert.Equal("auto-replied", r.GetProperty("autoSubmitted").GetString());
            Assert.Equal(
                [c.Expect.Global ? "message/global-delivery-status" : "message/delivery-status", c.Expect.ReturnedType],
                r.GetProperty("attachments").EnumerateArray().Select(p => p.GetString()!).ToArray());
            foreach (var mention in c.Expect.HumanMentions ?? [])
            {
                Assert.Contains(mention, r.GetProperty("text").GetString(), StringComparison.Ordinal);
            }

            AssertReport(c, r.GetProperty("perMessage"), r.GetProperty("recipients"), "mailparser");
            var returned = r.GetProperty("returned");
            Assert.Equal(c.Expect.ReturnedType, returned.GetProperty("contentType").GetString());
            var original = MimeParser.Parse(ReturnedContent.ToCrlf(c.Report.OriginalMessage.Span));
            Assert.Equal("<" + original.MessageId + ">", returned.GetProperty("messageId").GetString());
            Assert.Equal(original.Subject, returned.GetProperty("subject").GetString());
        }
    }
}
