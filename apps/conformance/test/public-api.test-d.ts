/**
 * Type-level checks of the public API (checked by tsc, not run): runConformance's options and report,
 * the result documents' literal fields, and the SdkUnderTest seam.
 */
import { expectTypeOf } from 'vitest'
import type { IicpClient } from '@iicp/client'
import type { Command } from 'commander'
import { conformanceCommand, exitCodeOf, resultDocuments, runConformance, runDocument } from '../src/index.js'
import type { CheckStatus, ConformanceOptions, ConformanceReport, ResultDocument, RunDocument, SdkUnderTest, Verdict } from '../src/index.js'

expectTypeOf(runConformance).parameter(0).toEqualTypeOf<ConformanceOptions | undefined>()
expectTypeOf(runConformance).returns.resolves.toEqualTypeOf<ConformanceReport>()
expectTypeOf<ConformanceReport['results'][number]['status']>().toEqualTypeOf<CheckStatus>()
expectTypeOf<CheckStatus>().toEqualTypeOf<'pass' | 'fail' | 'skip'>()
expectTypeOf(resultDocuments).returns.toEqualTypeOf<ResultDocument[]>()
expectTypeOf<ResultDocument['schema']>().toEqualTypeOf<'iicp.conformance_result.v1'>()
expectTypeOf<ResultDocument['content_free']>().toEqualTypeOf<true>()
expectTypeOf<ResultDocument['results'][number]['outcome']>().toEqualTypeOf<'pass' | 'fail'>()
expectTypeOf<ReturnType<SdkUnderTest['createClient']>>().toEqualTypeOf<IicpClient>()
expectTypeOf(conformanceCommand).returns.toEqualTypeOf<Command>()
expectTypeOf<ConformanceReport['verdict']>().toEqualTypeOf<Verdict>()
expectTypeOf<Verdict>().toEqualTypeOf<'conformant' | 'not_conformant' | 'incomplete'>()
expectTypeOf(runDocument).returns.toEqualTypeOf<RunDocument>()
expectTypeOf<RunDocument['documents']>().toEqualTypeOf<ResultDocument[]>()
expectTypeOf(exitCodeOf).returns.toEqualTypeOf<number>()
