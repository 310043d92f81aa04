namespace Postern.Mime.Tests;

/// <summary>MimeDefect values are stored and scored by the filters: they must never change.</summary>
public class DefectEnumStabilityTests
{
    [Fact]
    public void Defect_values_are_frozen()
    {
        var expected = new Dictionary<string, int>
        {
            ["None"] = 0,
            ["InvalidHeaderLine"] = 1,
            ["MissingHeaderSeparator"] = 2,
            ["LeadingContinuationLine"] = 3,
            ["LineTooLong"] = 4,
            ["TooManyHeaders"] = 5,
            ["HeaderBlockTooLarge"] = 6,
            ["NestingTooDeep"] = 7,
            ["TooManyParts"] = 8,
            ["MissingBoundaryParameter"] = 9,
            ["NoBoundaryFound"] = 10,
            ["MissingCloseDelimiter"] = 11,
            ["EncodedCompositeBody"] = 12,
            ["DuplicateContentType"] = 13,
            ["MboxFromLine"] = 14,
            ["MessageTruncated"] = 15,
            ["EmptyMessageBody"] = 16,
            ["NoParts"] = 17,
            ["InvalidBase64"] = 18,
            ["InvalidQuotedPrintable"] = 19,
            ["UnknownCharset"] = 20,
            ["InvalidCharsetBytes"] = 21,
            ["Undeclared8BitHeader"] = 22,
            ["InvalidMessageBody"] = 23,
            ["InternalError"] = 99,
        };
        var actual = Enum.GetValues<MimeDefect>().ToDictionary(v => v.ToString(), v => (int)v);
        Assert.Equal(expected.OrderBy(k => k.Key, StringComparer.Ordinal), actual.OrderBy(k => k.Key, StringComparer.Ordinal));
    }
}
