using System.Text.Json;
using System.Text.Json.Nodes;
using Postern.Core.Tenants;

namespace Postern.Tenants;

/// <summary>A plan's features plus the merged domain and account settings of one account.</summary>
public sealed record EffectiveSettings(IReadOnlySet<string> PlanFeatures, JsonObject Settings)
{
    public bool HasFeature(string feature) => PlanFeatures.Contains(feature);

    /// <summary>A setting switch: false when the plan lacks the feature, else the merged setting (default true).</summary>
    public bool IsOn(string feature) =>
        HasFeature(feature) && (Settings[feature] is not JsonValue v || !v.TryGetValue<bool>(out var on) || on);

    public bool MayForward => IsOn(BuiltInPlans.Features.Forwarding);
}

/// <summary>
/// Feature settings: JSON at domain and account level, merged account-over-domain with RFC 7386
/// JSON merge patch, and the features of the domain's plan (plus the Hosted Mail add-on).
/// </summary>
public sealed class FeatureSettings(IDirectoryStore store)
{
    public async Task<EffectiveSettings> GetForAccountAsync(long accountId, CancellationToken cancellationToken = default)
    {
        var account = await store.GetAccountAsync(accountId, cancellationToken).ConfigureAwait(false)
            ?? throw new DirectoryObjectNotFoundException("account", $"account {accountId} does not exist");
        var domain = await store.GetDomainAsync(account.DomainId, cancellationToken).ConfigureAwait(false)
            ?? throw new DirectoryObjectNotFoundException("domain", $"domain {account.DomainId} does not exist");
        var features = await PlanFeaturesAsync(domain, cancellationToken).ConfigureAwait(false);
        var merged = MergePatch(Parse(domain.SettingsJson), Parse(account.SettingsJson)) as JsonObject ?? [];
        return new EffectiveSettings(features, merged);
    }

    public async Task<EffectiveSettings> GetForDomainAsync(long domainId, CancellationToken cancellationToken = default)
    {
        var domain = await store.GetDomainAsync(domainId, cancellationToken).ConfigureAwait(false)
            ?? throw new DirectoryObjectNotFoundException("domain", $"domain {domainId} does not exist");
        return new EffectiveSettings(await PlanFeaturesAsync(domain, cancellationToken).ConfigureAwait(false), Parse(domain.SettingsJson) as JsonObject ?? []);
    }

    /// <summary>RFC 7386: applies <paramref name="patch"/> to <paramref name="target"/> and returns the result (inputs are not changed).</summary>
    public static JsonNode? MergePatch(JsonNode? target, JsonNode? patch)
    {
        if (patch is not JsonObject patchObject)
        {
            return patch?.DeepClone();
        }

        var result = target is JsonObject targetObject ? (JsonObject)targetObject.DeepClone() : [];
        foreach (var (name, value) in patchObject)
        {
            if (value is null)
            {
                result.Remove(name);
            }
            else
            {
                var merged = MergePatch(result[name], value);
                result[name] = merged;
            }
        }

        return result;
    }

    /// <summary>Checks that <paramref name="json"/> is a JSON object and returns it in compact form.</summary>
    public static string NormalizeObject(string field, string json)
    {
        try
        {
            var node = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { MaxDepth = 32 });
            if (node is not JsonObject obj)
            {
                throw new DirectoryValidationException(field, "settings must be a JSON object");
            }

            return obj.ToJsonString();
        }
        catch (JsonException e)
        {
            throw new DirectoryValidationException(field, $"settings are not valid JSON: {e.Message}");
        }
    }

    private async Task<IReadOnlySet<string>> PlanFeaturesAsync(MailDomain domain, CancellationToken cancellationToken)
    {
        var features = new HashSet<string>(StringComparer.Ordinal);
        if (domain.PlanId is { } planId && await store.GetPlanAsync(planId, cancellationToken).ConfigureAwait(false) is { } plan)
        {
            AddFeatures(features, plan.FeaturesJson);
        }
        else
        {
            // No plan assigned (a self-hoster): every feature is available.
            foreach (var p in await store.ListPlansAsync(cancellationToken).ConfigureAwait(false))
            {
                AddFeatures(features, p.FeaturesJson);
            }
        }

        if (domain.HostedMailAddOn || (domain.PlanId is null && domain.IsHosted))
        {
            var addOn = await store.FindPlanAsync(BuiltInPlans.HostedMail, cancellationToken).ConfigureAwait(false);
            if (addOn is not null)
            {
                AddFeatures(features, addOn.FeaturesJson);
            }
        }

        return features;
    }

    private static void AddFeatures(HashSet<string> features, string json)
    {
        if (Parse(json) is JsonObject obj)
        {
            foreach (var (name, value) in obj)
            {
                if (value is JsonValue v && v.TryGetValue<bool>(out var on) && on)
                {
                    features.Add(name);
                }
            }
        }
    }

    private static JsonNode? Parse(string json)
    {
        try
        {
            return JsonNode.Parse(json);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
