namespace Postern.Dns;

/// <summary>What one response says about a question, after following the CNAMEs it contains.</summary>
internal enum AnswerKind
{
    Records,
    NoData,
    NxDomain,
    FollowCname,
    CnameLoop,
    ServerError,
}

internal sealed record Interpretation(AnswerKind Kind, string FinalName, IReadOnlyList<DnsRecord> Records,
    IReadOnlyList<CnameRecord> Chain, uint Ttl, bool HasNegativeTtl, DnsStatus ErrorStatus = DnsStatus.ServerFailure);

/// <summary>Reads a response: follows the server's CNAME chain from the question name, finds the data or the negative answer.</summary>
internal static class DnsAnswerInterpreter
{
    public static Interpretation Interpret(DnsMessage response, string name, DnsRecordType type,
        HashSet<string> visited, int maxChain)
    {
        switch (response.ResponseCode)
        {
            case DnsResponseCode.NoError or DnsResponseCode.NameError:
                break;
            default:
                var status = response.ResponseCode switch
                {
                    DnsResponseCode.Refused => DnsStatus.Refused,
                    DnsResponseCode.FormatError => DnsStatus.FormatError,
                    DnsResponseCode.NotImplemented => DnsStatus.NotImplemented,
                    _ => DnsStatus.ServerFailure,
                };
                return new Interpretation(AnswerKind.ServerError, name, [], [], 0, false, status);
        }

        var chain = new List<CnameRecord>();
        var current = name;
        var ttl = uint.MaxValue;
        while (true)
        {
            var records = response.Answers
                .Where(r => r.Type == type && r.Class == DnsClass.IN && DnsName.NameEquals(r.Name, current))
                .ToArray();
            if (records.Length > 0 && response.ResponseCode == DnsResponseCode.NoError)
            {
                ttl = Math.Min(ttl, records.Min(r => r.Ttl));
                return new Interpretation(AnswerKind.Records, current, records, chain, ttl, false);
            }

            var cname = type == DnsRecordType.CNAME
                ? null
                : response.Answers.OfType<CnameRecord>()
                    .FirstOrDefault(r => r.Class == DnsClass.IN && DnsName.NameEquals(r.Name, current));
            if (cname is null)
            {
                break;
            }

            var target = DnsName.TrimDot(cname.Target).ToLowerInvariant();
            if (!visited.Add(target) || visited.Count > maxChain + 1)
            {
                return new Interpretation(AnswerKind.CnameLoop, current, [], chain, 0, false, DnsStatus.CnameLoop);
            }

            chain.Add(cname);
            ttl = Math.Min(ttl, cname.Ttl);
            current = target;
        }

        var soa = response.Authorities.OfType<SoaRecord>().FirstOrDefault();
        var negativeTtl = soa is null ? 0u : Math.Min(soa.Ttl, soa.Minimum);
        if (chain.Count > 0)
        {
            negativeTtl = Math.Min(negativeTtl, ttl);
        }

        if (response.ResponseCode == DnsResponseCode.NameError)
        {
            return new Interpretation(AnswerKind.NxDomain, current, [], chain, negativeTtl, soa is not null);
        }

        // The chain ended on a name without data: a full resolver says so with the zone's SOA; without one,
        // ask again for the target (a server that does not chase CNAMEs itself).
        if (chain.Count > 0 && soa is null)
        {
            return new Interpretation(AnswerKind.FollowCname, current, [], chain, ttl, false);
        }

        return new Interpretation(AnswerKind.NoData, current, [], chain, negativeTtl, soa is not null);
    }
}
