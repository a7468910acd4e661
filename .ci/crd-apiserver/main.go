// Provenance: copied from the project's reference notes (shared/k8s/modern/crd-apiserver/main.go,
// "A current Kubernetes API for CRD tests"), unchanged below this note. Built by .ci/modern-apiserver.sh
// against Debian sid's golang-k8s-*-dev 0.36.x packages (GOPATH mode, no Go modules, no network).
// Used only by the `modern` test tier (tests/modern/), never shipped.
//
// crd-apiserver: a standalone Kubernetes-style API server built only from the
// k8s.io/apiextensions-apiserver + k8s.io/apiserver libraries (Debian sid,
// golang-k8s-*-dev 0.36.x).  It serves apiextensions.k8s.io/v1 (CRDs, with CEL
// x-kubernetes-validations, status/scale subresources, SSA, watch) backed by
// etcd.  It has no core/v1, RBAC or admission webhooks.
//
// Auth: --client-ca-file (x509), and --token-auth-file (static CSV tokens:
// token,user,uid,"group1,group2").  Authorization: members of the groups in
// --allow-groups (default system:masters) may do anything; others are denied.
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"

	"github.com/spf13/pflag"
	noopoteltrace "go.opentelemetry.io/otel/trace/noop"
	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	discoveryendpoint "k8s.io/apiserver/pkg/endpoints/discovery/aggregated"

	"k8s.io/apiextensions-apiserver/pkg/apiserver"
	"k8s.io/apiextensions-apiserver/pkg/cmd/server/options"
	generatedopenapi "k8s.io/apiextensions-apiserver/pkg/generated/openapi"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/request/union"
	"k8s.io/apiserver/pkg/authentication/token/tokenfile"
	openapinamer "k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/util/openapi"
	"k8s.io/apiserver/pkg/util/proxy"
	"k8s.io/apiserver/pkg/util/webhook"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	scheme "k8s.io/client-go/kubernetes/scheme"
	corev1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/component-base/cli/globalflag"
	"k8s.io/component-base/logs"
	netutils "k8s.io/utils/net"
)

type serviceResolver struct{ services corev1.ServiceLister }

func (r *serviceResolver) ResolveEndpoint(namespace, name string, port int32) (*url.URL, error) {
	return proxy.ResolveCluster(r.services, namespace, name, port)
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "crd-apiserver:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := genericapiserver.SetupSignalContext()
	o := options.NewCustomResourceDefinitionsServerOptions(os.Stdout, os.Stderr)
	ro := o.RecommendedOptions
	ro.CoreAPI = nil   // no core/v1 server to talk to
	ro.Admission = nil // all default admission plugins need core/v1 informers
	ro.Authentication.RemoteKubeConfigFileOptional = true
	ro.Authentication.SkipInClusterLookup = true
	ro.Authorization.RemoteKubeConfigFileOptional = true
	ro.Features.EnablePriorityAndFairness = false // APF needs a core/v1 client

	fs := pflag.NewFlagSet("crd-apiserver", pflag.ExitOnError)
	o.AddFlags(fs)
	tokenFile := fs.String("token-auth-file", "", "static token CSV file: token,user,uid,\"group1,group2\"")
	allowGroups := fs.StringSlice("allow-groups", []string{"system:masters"}, "groups that are authorized for everything")
	globalflag.AddGlobalFlags(fs, "crd-apiserver")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	logs.InitLogs()
	defer logs.FlushLogs()
	ro.Authorization.AlwaysAllowGroups = *allowGroups

	if err := o.ServerRunOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return err
	}
	if err := o.Complete(); err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return err
	}

	// Same as options.Config(), but with an empty fake core/v1 informer factory.
	if err := ro.SecureServing.MaybeDefaultWithSelfSignedCerts("localhost", nil, []net.IP{netutils.ParseIPSloppy("127.0.0.1")}); err != nil {
		return fmt.Errorf("error creating self-signed certificates: %v", err)
	}
	serverConfig := genericapiserver.NewRecommendedConfig(apiserver.Codecs)
	if err := o.ServerRunOptions.ApplyTo(&serverConfig.Config); err != nil {
		return err
	}
	if err := ro.ApplyTo(serverConfig); err != nil {
		return err
	}
	if err := o.APIEnablement.ApplyTo(&serverConfig.Config, apiserver.DefaultAPIResourceConfigSource(), apiserver.Scheme); err != nil {
		return err
	}
	serverConfig.SharedInformerFactory = informers.NewSharedInformerFactory(fake.NewSimpleClientset(), 0)
	if *tokenFile != "" {
		ta, err := tokenfile.NewCSV(*tokenFile)
		if err != nil {
			return err
		}
		reqs := []authenticator.Request{bearertoken.New(ta)}
		if serverConfig.Authentication.Authenticator != nil {
			reqs = append(reqs, serverConfig.Authentication.Authenticator)
		}
		serverConfig.Authentication.Authenticator = union.New(reqs...)
	}
	getDefs := openapi.GetOpenAPIDefinitionsWithoutDisabledFeatures(generatedopenapi.GetOpenAPIDefinitions)
	serverConfig.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(getDefs, openapinamer.NewDefinitionNamer(apiserver.Scheme, scheme.Scheme))
	serverConfig.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(getDefs, openapinamer.NewDefinitionNamer(apiserver.Scheme, scheme.Scheme)) // /openapi/v2 (+ CRD openapi controllers)
	config := &apiserver.Config{
		GenericConfig: serverConfig,
		ExtraConfig: apiserver.ExtraConfig{
			CRDRESTOptionsGetter: options.NewCRDRESTOptionsGetter(*ro.Etcd, serverConfig.ResourceTransformers, serverConfig.StorageObjectCountTracker),
			ServiceResolver:      &serviceResolver{serverConfig.SharedInformerFactory.Core().V1().Services().Lister()},
			AuthResolverWrapper:  webhook.NewDefaultAuthenticationInfoResolverWrapper(nil, nil, serverConfig.LoopbackClientConfig, noopoteltrace.NewTracerProvider()),
		},
	}
	server, err := config.Complete().New(genericapiserver.NewEmptyDelegate())
	if err != nil {
		return err
	}
	// apiextensions-apiserver leaves /apis to kube-aggregator; serve it here.
	gs := server.GenericAPIServer
	legacy := &legacyRootHandler{agg: gs.AggregatedDiscoveryGroupManager}
	wrapped := discoveryendpoint.WrapAggregatedDiscoveryToHandler(legacy, gs.AggregatedDiscoveryGroupManager, nil)
	gs.Handler.GoRestfulContainer.Add(wrapped.GenerateWebService("/apis", metav1.APIGroupList{}))
	return gs.PrepareRun().RunWithContext(ctx)
}

// legacyRootHandler serves the non-aggregated /apis APIGroupList by converting
// the aggregated discovery document (which includes all CRD groups).
type legacyRootHandler struct{ agg http.Handler }

func (h *legacyRootHandler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r2 := req.Clone(req.Context())
	r2.Header.Set("Accept", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
	rec := httptest.NewRecorder()
	h.agg.ServeHTTP(rec, r2)
	var adl apidiscoveryv2.APIGroupDiscoveryList
	if err := json.Unmarshal(rec.Body.Bytes(), &adl); err != nil {
		http.Error(w, "discovery: "+err.Error(), http.StatusInternalServerError)
		return
	}
	out := metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}, Groups: []metav1.APIGroup{}}
	for _, g := range adl.Items {
		ag := metav1.APIGroup{Name: g.Name}
		for _, v := range g.Versions {
			ag.Versions = append(ag.Versions, metav1.GroupVersionForDiscovery{GroupVersion: g.Name + "/" + v.Version, Version: v.Version})
		}
		if len(ag.Versions) > 0 {
			ag.PreferredVersion = ag.Versions[0]
		}
		out.Groups = append(out.Groups, ag)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
