#include "protocols/protocols.h"
#include "protocols/debate.h"

namespace oversight {

void RegisterProtocols(Registries& registries) {
  RegisterSparsePixelTasks(registries);
  RegisterDirectProtocol(registries);
  RegisterDebateProtocol(registries);
}

}  // namespace oversight
