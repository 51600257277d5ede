import asyncio
import aiohttp
import json
import time
import psutil
import logging
import os
from datetime import datetime
from typing import Dict, Any, Optional
from dataclasses import dataclass, asdict

@dataclass
class NeuronConfig:
    neuron_id: str
    name: str
    type: str
    federation_url: str
    jwt_token: Optional[str] = None
    heartbeat_interval: int = 60
    
class FederationClient:
    def __init__(self, config: NeuronConfig):
        self.config = config
        self.session: Optional[aiohttp.ClientSession] = None
        self.running = False
        self.start_time = time.time()
        
    async def __aenter__(self):
        self.session = aiohttp.ClientSession()
        return self
        
    async def __aexit__(self, exc_type, exc_val, exc_tb):
        if self.session:
            await self.session.close()
    
    async def register(self) -> bool:
        """Register this neuron with the federation"""
        registration_data = {
            "neuronId": self.config.neuron_id,
            "name": self.config.name,
            "type": self.config.type,
            "language": "python",
            "version": "1.0.0",
            "healthcheckEndpoint": "/health",
            "apiEndpoints": [
                {
                    "path": "/process",
                    "method": "POST",
                    "description": "Process data batch"
                }
            ],
            "authentication": {
                "type": "jwt"
            },
            "capabilities": ["data_processing", "batch_operations"],
            "dependencies": ["postgresql"],
            "resourceRequirements": {
                "cpu": "1 core",
                "memory": "2GB",
                "storage": "5GB"
            },
            "deploymentInfo": {
                "type": "container",
                "image": f"{self.config.type}:1.0.0"
            },
            "alertThresholds": {
                "errorRate": 5,
                "responseTime": 2000,
                "healthScore": 80
            }
        }
        
        try:
            async with self.session.post(
                f"{self.config.federation_url}/api/neuron/register",
                json=registration_data,
                headers={"Content-Type": "application/json"}
            ) as response:
                if response.status == 201:
                    data = await response.json()
                    self.config.jwt_token = data["data"]["token"]
                    logging.info(f"âœ… Registered with federation: {self.config.neuron_id}")
                    return True
                else:
                    error_text = await response.text()
                    logging.error(f"âŒ Registration failed: {response.status} - {error_text}")
                    return False
        except Exception as e:
            logging.error(f"âŒ Registration error: {e}")
            return False
    
    async def send_heartbeat(self) -> bool:
        """Send heartbeat to federation"""
        if not self.config.jwt_token:
            logging.error("âŒ No JWT token - cannot send heartbeat")
            return False
            
        # Collect system metrics
        cpu_percent = psutil.cpu_percent(interval=1)
        memory = psutil.virtual_memory()
        disk = psutil.disk_usage('/')
        
        heartbeat_data = {
            "status": "active",
            "healthScore": self._calculate_health_score(),
            "uptime": int(time.time() - self.start_time),
            "processId": str(os.getpid()),
            "hostInfo": {
                "hostname": os.uname().nodename,
                "pid": os.getpid()
            },
            "systemMetrics": {
                "cpuUsage": cpu_percent,
                "memoryUsage": memory.percent,
                "diskUsage": disk.percent
            },
            "applicationMetrics": {
                "requestsPerSecond": 0,  # Implement your metrics
                "averageResponseTime": 0,
                "activeConnections": 0
            },
            "dependencyStatus": {
                "postgresql": "healthy"  # Check your dependencies
            },
            "performanceMetrics": {
                "successRate": 99.9,
                "errorCount": 0,
                "warningCount": 0
            },
            "configVersion": "1.0.0"
        }
        
        try:
            async with self.session.post(
                f"{self.config.federation_url}/api/neuron/status",
                json=heartbeat_data,
                headers={
                    "Authorization": f"Bearer {self.config.jwt_token}",
                    "Content-Type": "application/json"
                }
            ) as response:
                if response.status == 200:
                    logging.debug(f"ðŸ’“ Heartbeat sent successfully")
                    return True
                else:
                    error_text = await response.text()
                    logging.error(f"âŒ Heartbeat failed: {response.status} - {error_text}")
                    return False
        except Exception as e:
            logging.error(f"âŒ Heartbeat error: {e}")
            return False
    
    async def report_analytics(self, metrics: Dict[str, Any]) -> bool:
        """Report analytics to federation"""
        if not self.config.jwt_token:
            return False
            
        analytics_data = {
            "neuronId": self.config.neuron_id,
            "metrics": metrics,
            "timestamp": datetime.utcnow().isoformat()
        }
        
        try:
            async with self.session.post(
                f"{self.config.federation_url}/api/analytics/report",
                json=analytics_data,
                headers={
                    "Authorization": f"Bearer {self.config.jwt_token}",
                    "Content-Type": "application/json"
                }
            ) as response:
                return response.status == 200
        except Exception as e:
            logging.error(f"âŒ Analytics reporting error: {e}")
            return False
    
    async def get_config(self) -> Optional[Dict[str, Any]]:
        """Get current configuration from federation"""
        if not self.config.jwt_token:
            return None
            
        try:
            async with self.session.get(
                f"{self.config.federation_url}/api/neuron/config",
                headers={"Authorization": f"Bearer {self.config.jwt_token}"}
            ) as response:
                if response.status == 200:
                    data = await response.json()
                    return data["data"]
                return None
        except Exception as e:
            logging.error(f"âŒ Config fetch error: {e}")
            return None
    
    def _calculate_health_score(self) -> int:
        """Calculate health score based on system metrics"""
        # Implement your health scoring logic
        cpu_percent = psutil.cpu_percent()
        memory = psutil.virtual_memory()
        
        # Simple scoring: penalize high resource usage
        score = 100
        if cpu_percent > 80:
            score -= 20
        elif cpu_percent > 60:
            score -= 10
            
        if memory.percent > 90:
            score -= 20
        elif memory.percent > 70:
            score -= 10
            
        return max(0, score)
    
    async def heartbeat_loop(self):
        """Main heartbeat loop"""
        self.running = True
        while self.running:
            await self.send_heartbeat()
            await asyncio.sleep(self.config.heartbeat_interval)
    
    def stop(self):
        """Stop the heartbeat loop"""
        self.running = False

# Example usage in your application
async def main():
    # Configure your neuron
    config = NeuronConfig(
        neuron_id="python-processor-001",
        name="Python Data Processor",
        type="python-data-processor",
        federation_url="http://localhost:5000"
    )
    
    # Setup logging
    logging.basicConfig(
        level=logging.INFO,
        format='%(asctime)s - %(levelname)s - %(message)s'
    )
    
    async with FederationClient(config) as client:
        # Register with federation
        if await client.register():
            # Start heartbeat loop
            heartbeat_task = asyncio.create_task(client.heartbeat_loop())
            
            try:
                # Your application logic here
                while True:
                    # Example: Process some data
                    await asyncio.sleep(10)
                    
                    # Report analytics
                    await client.report_analytics({
                        "totalRequests": 100,
                        "successfulRequests": 95,
                        "failedRequests": 5,
                        "averageResponseTime": 250
                    })
                    
            except KeyboardInterrupt:
                logging.info("ðŸ›‘ Shutting down...")
                client.stop()
                await heartbeat_task

if __name__ == "__main__":
    asyncio.run(main())
