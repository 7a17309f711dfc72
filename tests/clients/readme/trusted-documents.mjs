// trusted-documents.mjs: Apollo Client 4 sending only the ids of the trusted documents.
// loadManifest returns the JSON of `salesflow-graphql persisted-manifest` (Apollo's format),
// e.g. () => import("./persisted-query-manifest.json", { with: { type: "json" } }).then((m) => m.default).
// Each operation must be named as in the manifest; the gateway runs the manifest's document.
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { generatePersistedQueryIdsFromManifest } from "@apollo/persisted-query-lists";

export function trustedDocumentsLink(loadManifest) {
  return new PersistedQueryLink(generatePersistedQueryIdsFromManifest({ loadManifest }));
}

// In front of the HTTP link: trustedDocumentsLink(loadManifest).concat(httpLink)
