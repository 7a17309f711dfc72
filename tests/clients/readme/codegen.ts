// codegen.ts: typed operations with GraphQL Code Generator's client preset.
import type { CodegenConfig } from "@graphql-codegen/cli";

// Where this repository is checked out, relative to the app.
const gateway = process.env.SALESFLOW_GATEWAY_DIR ?? "../salesflow-graphql";

const config: CodegenConfig = {
  schema: `${gateway}/schema.graphql`,
  documents: [`${gateway}/examples/operations/*.graphql`, "src/**/*.graphql"],
  ignoreNoDocuments: true,
  generates: {
    "src/gql/": {
      preset: "client",
      // Apollo Client 4 hands over unmasked data unless told otherwise: type it that way.
      presetConfig: { fragmentMasking: false },
      config: {
        scalars: { Date: "string", DateTime: "string", Upload: "File" },
        useTypeImports: true,
        // "moduleResolution": "nodenext" (or "node16") wants explicit .js extensions.
        emitLegacyCommonJSImports: false,
      },
    },
  },
};
export default config;
