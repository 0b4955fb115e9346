// fakegpu is a Kubernetes device plugin that advertises N fake NVIDIA GPUs.
//
// It speaks the real device-plugin API (k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1): it
// serves DevicePlugin on a socket in the kubelet's plugin folder and registers with
// kubelet.sock. Allocate answers as the NVIDIA plugin does: NVIDIA_VISIBLE_DEVICES=<uuids>
// plus one device node per GPU (a host character device bound as /dev/nvidiaN). The kubelet
// deletes plugin sockets when it starts, so the plugin watches its socket, also while it waits
// for the kubelet to answer, and serves and registers again when it disappears. Every Allocate
// answer is also appended, as one JSON line, to the file --allocation-log names: the record a
// replica's own view is checked against.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

type plugin struct {
	pluginapi.UnimplementedDevicePluginServer
	ids      []string
	index    map[string]int
	hostDev  string
	logPath  string
	resource string
	logMu    sync.Mutex
}

// allocation is one line of the allocation log: the devices the kubelet asked for and what the
// plugin answered (the env and the device nodes the container gets).
type allocation struct {
	Time     string            `json:"time"`
	Resource string            `json:"resource"`
	IDs      []string          `json:"device_ids"`
	Envs     map[string]string `json:"envs"`
	Devices  map[string]string `json:"devices"` // device id -> container path
}

func (p *plugin) record(a allocation) {
	if p.logPath == "" {
		return
	}
	line, err := json.Marshal(a)
	if err != nil {
		log.Printf("allocation log: %v", err)
		return
	}
	p.logMu.Lock()
	defer p.logMu.Unlock()
	f, err := os.OpenFile(p.logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		log.Printf("allocation log: %v", err)
		return
	}
	defer f.Close()
	if _, err := f.Write(append(line, '\n')); err != nil {
		log.Printf("allocation log: %v", err)
	}
}

func (p *plugin) GetDevicePluginOptions(context.Context, *pluginapi.Empty) (*pluginapi.DevicePluginOptions, error) {
	return &pluginapi.DevicePluginOptions{}, nil
}

func (p *plugin) ListAndWatch(_ *pluginapi.Empty, stream pluginapi.DevicePlugin_ListAndWatchServer) error {
	devs := make([]*pluginapi.Device, 0, len(p.ids))
	for _, id := range p.ids {
		devs = append(devs, &pluginapi.Device{ID: id, Health: pluginapi.Healthy})
	}
	if err := stream.Send(&pluginapi.ListAndWatchResponse{Devices: devs}); err != nil {
		return err
	}
	<-stream.Context().Done() // the device list never changes
	return nil
}

func (p *plugin) Allocate(_ context.Context, req *pluginapi.AllocateRequest) (*pluginapi.AllocateResponse, error) {
	resp := &pluginapi.AllocateResponse{}
	for _, creq := range req.ContainerRequests {
		var specs []*pluginapi.DeviceSpec
		paths := map[string]string{}
		for _, id := range creq.DevicesIds {
			n, ok := p.index[id]
			if !ok {
				return nil, fmt.Errorf("unknown device %q", id)
			}
			paths[id] = fmt.Sprintf("/dev/nvidia%d", n)
			specs = append(specs, &pluginapi.DeviceSpec{HostPath: p.hostDev, ContainerPath: paths[id], Permissions: "rw"})
		}
		envs := map[string]string{"NVIDIA_VISIBLE_DEVICES": strings.Join(creq.DevicesIds, ",")}
		log.Printf("allocate %v", creq.DevicesIds)
		p.record(allocation{
			Time: time.Now().UTC().Format(time.RFC3339Nano), Resource: p.resource,
			IDs: creq.DevicesIds, Envs: envs, Devices: paths,
		})
		resp.ContainerResponses = append(resp.ContainerResponses, &pluginapi.ContainerAllocateResponse{
			Envs: envs, Devices: specs,
		})
	}
	return resp, nil
}

func (p *plugin) GetPreferredAllocation(context.Context, *pluginapi.PreferredAllocationRequest) (*pluginapi.PreferredAllocationResponse, error) {
	return &pluginapi.PreferredAllocationResponse{}, nil
}

func (p *plugin) PreStartContainer(context.Context, *pluginapi.PreStartContainerRequest) (*pluginapi.PreStartContainerResponse, error) {
	return &pluginapi.PreStartContainerResponse{}, nil
}

// serve starts the gRPC server on sock; it returns the server so the caller can stop it.
func serve(p *plugin, sock string) (*grpc.Server, error) {
	_ = os.Remove(sock)
	lis, err := net.Listen("unix", sock)
	if err != nil {
		return nil, err
	}
	srv := grpc.NewServer()
	pluginapi.RegisterDevicePluginServer(srv, p)
	go func() { _ = srv.Serve(lis) }()
	return srv, nil
}

func register(dir, endpoint, resource string) error {
	conn, err := grpc.NewClient("unix://"+filepath.Join(dir, "kubelet.sock"),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = pluginapi.NewRegistrationClient(conn).Register(ctx, &pluginapi.RegisterRequest{
		Version: pluginapi.Version, Endpoint: endpoint, ResourceName: resource,
	})
	return err
}

func main() {
	count := flag.Int("count", 2, "number of fake GPUs")
	resource := flag.String("resource", "nvidia.com/gpu", "extended resource name")
	dir := flag.String("dir", pluginapi.DevicePluginPath, "kubelet device-plugin folder")
	prefix := flag.String("uuid-prefix", "GPU-fake-", "fake device UUID prefix")
	hostDev := flag.String("host-device", "/dev/null", "host device bound as each /dev/nvidiaN")
	logPath := flag.String("allocation-log", "", "append each Allocate answer here as a JSON line")
	flag.Parse()

	p := &plugin{index: map[string]int{}, hostDev: *hostDev, logPath: *logPath, resource: *resource}
	for i := 0; i < *count; i++ {
		id := fmt.Sprintf("%s%d", *prefix, i)
		p.ids = append(p.ids, id)
		p.index[id] = i
	}
	endpoint := "fakegpu.sock"
	sock := filepath.Join(*dir, endpoint)
	for {
		srv, err := serve(p, sock)
		if err != nil {
			log.Printf("serve %s: %v; retrying", sock, err)
			time.Sleep(time.Second)
			continue
		}
		if err := registerWhileServing(*dir, endpoint, *resource, sock); err != nil {
			log.Printf("%v; serving again", err)
			srv.Stop()
			continue
		}
		log.Printf("registered %s with %d devices %v", *resource, *count, p.ids)
		// The kubelet removes every plugin socket when it (re)starts: then register again.
		for {
			time.Sleep(time.Second)
			if _, err := os.Stat(sock); err != nil {
				break
			}
		}
		log.Printf("%s is gone (kubelet restarted); registering again", sock)
		srv.Stop()
	}
}

// registerWhileServing retries Register until it succeeds. A kubelet that starts while these
// retries run deletes every socket in its plugin folder, ours too, and then could never dial
// back: so a missing socket ends the retries with an error, and the caller serves it again.
func registerWhileServing(dir, endpoint, resource, sock string) error {
	for {
		err := register(dir, endpoint, resource)
		if err == nil {
			return nil
		}
		log.Printf("register with kubelet: %v; retrying", err)
		if _, statErr := os.Stat(sock); statErr != nil {
			return fmt.Errorf("%s is gone (the kubelet started)", sock)
		}
		time.Sleep(time.Second)
	}
}
